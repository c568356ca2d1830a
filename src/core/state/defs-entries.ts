/**
 * The definitions log (`defs`, one per broker): what must survive a restart besides messages and the
 * state of groups and sessions. Durable exchanges, durable queues with their options, bindings
 * between durable objects, streams, vhosts, users (scrypt records and tags), what each user may do
 * in each vhost (permissions and topic permissions) and three once-only flags.
 * Exclusive queues are never written: RabbitMQ deletes them with their connection.
 */
import type { StreamCompaction, StreamInfo } from '../api.js';
import { derivedStreamId, isStreamId } from '../logs/stream-ids.js';
import { canonicalHeaders } from '../routing/headers.js';
import {
  isScramMechanism,
  type ScramCredential,
  type ScramCredentials,
  type ScramMechanism,
} from '../scram.js';
import type { ExchangeOptions, Headers, QueueOptions } from '../types.js';
import type { StoredPermission, StoredTopicPermission } from '../views.js';
import {
  type AclEntry,
  type AclState,
  applyAclEntry,
  decodeAclEntry,
  emptyAclState,
  encodeAclEntry,
  isAclEntry,
  snapshotAcls,
} from './acl-entries.js';
import {
  bytesToJson,
  corrupt,
  type FieldSpec,
  Fields,
  headersToJson,
  type Json,
  optionalFromJson,
  optionalToJson,
} from './json.js';
import {
  applyPolicyEntry,
  decodePolicyEntry,
  emptyPolicyState,
  encodePolicyEntry,
  type PolicyEntry,
  type PolicyState,
  snapshotPolicies,
} from './policy-entries.js';
import type { StateMachine } from './state-log.js';

export interface StoredBinding {
  readonly source: string;
  readonly destination: string;
  readonly destinationKind: 'queue' | 'exchange';
  readonly routingKey: string;
  readonly args: Headers;
}

/**
 * A user's password as a salted scrypt hash (base64), with the scrypt cost it was made with; an empty
 * hash means no password (the user cannot log in with one). Beside it, the SCRAM credentials made from
 * the same password (or set alone, by Kafka's AlterUserScramCredentials); absent for a user whose
 * password was set before they existed, until its next password login.
 */
export interface StoredUser {
  readonly salt: string;
  readonly hash: string;
  readonly cost: number;
  readonly tags: readonly string[];
  readonly scram?: ScramCredentials;
}

export interface VhostDefinitions {
  readonly exchanges: Map<string, ExchangeOptions>;
  readonly queues: Map<string, QueueOptions>;
  /** By `bindingKey`. */
  readonly bindings: Map<string, StoredBinding>;
  readonly streams: Map<string, StreamInfo>;
}

export interface DefinitionsState extends PolicyState, AclState {
  readonly vhosts: Map<string, VhostDefinitions>;
  readonly users: Map<string, StoredUser>;
  /** By vhost, then user. */
  readonly permissions: Map<string, Map<string, StoredPermission>>;
  /** By vhost, then user, then exchange. */
  readonly topicPermissions: Map<string, Map<string, Map<string, StoredTopicPermission>>>;
  /** Set once `guest` was created on the first start, so deleting every user never brings it back. */
  usersSeeded: boolean;
  /** Set once users were first given permissions (src/core/permissions.ts `seed`). */
  permissionsSeeded: boolean;
  /** Set once the server applied its configured default user (src/server/users.ts). */
  defaultUserApplied: boolean;
}

export type DefinitionsEntry =
  | { readonly type: 'vhost.put'; readonly vhost: string }
  /** Removes the vhost and every definition in it. */
  | { readonly type: 'vhost.delete'; readonly vhost: string }
  | {
      readonly type: 'exchange.put';
      readonly vhost: string;
      readonly name: string;
      readonly options: ExchangeOptions;
    }
  | { readonly type: 'exchange.delete'; readonly vhost: string; readonly name: string }
  | {
      readonly type: 'queue.put';
      readonly vhost: string;
      readonly name: string;
      readonly options: QueueOptions;
    }
  | { readonly type: 'queue.delete'; readonly vhost: string; readonly name: string }
  | { readonly type: 'binding.put'; readonly vhost: string; readonly binding: StoredBinding }
  | { readonly type: 'binding.delete'; readonly vhost: string; readonly binding: StoredBinding }
  | { readonly type: 'stream.put'; readonly vhost: string; readonly info: StreamInfo }
  | { readonly type: 'stream.delete'; readonly vhost: string; readonly name: string }
  | { readonly type: 'user.put'; readonly name: string; readonly user: StoredUser }
  /** Removes the user and its permissions in every vhost. */
  | { readonly type: 'user.delete'; readonly name: string }
  /** Sets (null: removes) one SCRAM credential of an existing user; its password and tags stay. */
  | {
      readonly type: 'user.scram';
      readonly name: string;
      readonly mechanism: ScramMechanism;
      readonly credential: ScramCredential | null;
    }
  | {
      readonly type: 'permission.put';
      readonly vhost: string;
      readonly user: string;
      readonly permission: StoredPermission;
    }
  | { readonly type: 'permission.delete'; readonly vhost: string; readonly user: string }
  | {
      readonly type: 'topicPermission.put';
      readonly vhost: string;
      readonly user: string;
      readonly exchange: string;
      readonly permission: StoredTopicPermission;
    }
  | {
      readonly type: 'topicPermission.delete';
      readonly vhost: string;
      readonly user: string;
      readonly exchange: string;
    }
  | { readonly type: 'users.seeded' }
  | { readonly type: 'permissions.seeded' }
  | { readonly type: 'defaultUser.applied' }
  | PolicyEntry
  | AclEntry;

/** Entries that change who may do what: compiled permissions are cached until the next of these. */
export function changesAccess(entry: DefinitionsEntry): boolean {
  switch (entry.type) {
    case 'vhost.delete':
    case 'user.put':
    case 'user.delete':
    case 'permission.put':
    case 'permission.delete':
    case 'topicPermission.put':
    case 'topicPermission.delete':
    case 'acl.put':
    case 'acl.delete':
      return true;
    default:
      return false;
  }
}

export function bindingKey(b: StoredBinding): string {
  return [b.source, b.destinationKind, b.destination, b.routingKey, canonicalHeaders(b.args)].join('\u0000');
}

function emptyVhost(): VhostDefinitions {
  return { exchanges: new Map(), queues: new Map(), bindings: new Map(), streams: new Map() };
}

/** The vhost's record, made when a definition is put into a vhost not yet recorded. */
function vhostOf(state: DefinitionsState, vhost: string): VhostDefinitions {
  let defs = state.vhosts.get(vhost);
  if (defs === undefined) {
    defs = emptyVhost();
    state.vhosts.set(vhost, defs);
  }
  return defs;
}

function applyDefinitions(state: DefinitionsState, entry: DefinitionsEntry): DefinitionsState {
  applyPolicyEntry(state, entry);
  if (isAclEntry(entry)) {
    applyAclEntry(state, entry);
    return state;
  }
  const known = 'vhost' in entry ? state.vhosts.get(entry.vhost) : undefined;
  switch (entry.type) {
    case 'vhost.put':
      vhostOf(state, entry.vhost);
      break;
    case 'vhost.delete':
      state.vhosts.delete(entry.vhost);
      state.permissions.delete(entry.vhost);
      state.topicPermissions.delete(entry.vhost);
      break;
    case 'exchange.put':
      vhostOf(state, entry.vhost).exchanges.set(entry.name, entry.options);
      break;
    case 'exchange.delete':
      known?.exchanges.delete(entry.name);
      break;
    case 'queue.put':
      vhostOf(state, entry.vhost).queues.set(entry.name, entry.options);
      break;
    case 'queue.delete':
      known?.queues.delete(entry.name);
      break;
    case 'binding.put':
      vhostOf(state, entry.vhost).bindings.set(bindingKey(entry.binding), entry.binding);
      break;
    case 'binding.delete':
      known?.bindings.delete(bindingKey(entry.binding));
      break;
    case 'stream.put':
      vhostOf(state, entry.vhost).streams.set(entry.info.name, entry.info);
      break;
    case 'stream.delete':
      known?.streams.delete(entry.name);
      break;
    default:
      applyBrokerWide(state, entry);
  }
  return state;
}

function applyBrokerWide(state: DefinitionsState, entry: DefinitionsEntry): void {
  switch (entry.type) {
    case 'user.put':
      state.users.set(entry.name, entry.user);
      return;
    case 'user.scram': {
      const user = state.users.get(entry.name);
      if (user === undefined) return;
      const scram: Partial<Record<ScramMechanism, ScramCredential>> = { ...user.scram };
      if (entry.credential === null) delete scram[entry.mechanism];
      else scram[entry.mechanism] = entry.credential;
      state.users.set(entry.name, { ...user, scram });
      return;
    }
    case 'user.delete':
      state.users.delete(entry.name);
      for (const users of state.permissions.values()) users.delete(entry.name);
      for (const users of state.topicPermissions.values()) users.delete(entry.name);
      return;
    case 'users.seeded':
      state.usersSeeded = true;
      return;
    case 'permissions.seeded':
      state.permissionsSeeded = true;
      return;
    case 'defaultUser.applied':
      state.defaultUserApplied = true;
      return;
    default:
      applyPermissions(state, entry);
  }
}

function applyPermissions(state: DefinitionsState, entry: DefinitionsEntry): void {
  switch (entry.type) {
    case 'permission.put':
      mapOf(state.permissions, entry.vhost).set(entry.user, entry.permission);
      return;
    case 'permission.delete':
      state.permissions.get(entry.vhost)?.delete(entry.user);
      return;
    case 'topicPermission.put':
      mapOf(mapOf(state.topicPermissions, entry.vhost), entry.user).set(entry.exchange, entry.permission);
      return;
    case 'topicPermission.delete': {
      const exchanges = state.topicPermissions.get(entry.vhost)?.get(entry.user);
      exchanges?.delete(entry.exchange);
      if (exchanges?.size === 0) state.topicPermissions.get(entry.vhost)?.delete(entry.user);
      return;
    }
    default:
  }
}

function mapOf<V>(outer: Map<string, Map<string, V>>, key: string): Map<string, V> {
  let inner = outer.get(key);
  if (inner === undefined) {
    inner = new Map();
    outer.set(key, inner);
  }
  return inner;
}

function* snapshotDefinitions(state: DefinitionsState): Iterable<DefinitionsEntry> {
  for (const [vhost, defs] of state.vhosts) {
    yield { type: 'vhost.put', vhost };
    for (const [name, options] of defs.exchanges) yield { type: 'exchange.put', vhost, name, options };
    for (const [name, options] of defs.queues) yield { type: 'queue.put', vhost, name, options };
    for (const binding of defs.bindings.values()) yield { type: 'binding.put', vhost, binding };
    for (const info of defs.streams.values()) yield { type: 'stream.put', vhost, info };
  }
  for (const [name, user] of state.users) yield { type: 'user.put', name, user };
  for (const [vhost, users] of state.permissions) {
    for (const [user, permission] of users) yield { type: 'permission.put', vhost, user, permission };
  }
  for (const [vhost, users] of state.topicPermissions) {
    for (const [user, exchanges] of users) {
      for (const [exchange, permission] of exchanges) {
        yield { type: 'topicPermission.put', vhost, user, exchange, permission };
      }
    }
  }
  if (state.usersSeeded) yield { type: 'users.seeded' };
  if (state.permissionsSeeded) yield { type: 'permissions.seeded' };
  if (state.defaultUserApplied) yield { type: 'defaultUser.applied' };
  yield* snapshotPolicies(state);
  yield* snapshotAcls(state);
}

// ---- encoding

const exchangeSpec: FieldSpec = [
  ['type', ['direct', 'fanout', 'topic', 'headers']],
  ['durable', 'bool'],
  ['autoDelete', 'bool'],
  ['internal', 'bool'],
  ['arguments', 'headers'],
];

/** Every stored queue option; `exclusiveOwner` is never stored (exclusive queues are not). */
const queueSpec: FieldSpec = [
  ['durable', 'bool'],
  ['autoDelete', 'bool'],
  ['kind', ['classic', 'stream']],
  ['messageTtlMs', 'num'],
  ['expiresMs', 'num'],
  ['lengthMax', 'num'],
  ['bytesMax', 'num'],
  ['overflow', ['drop-head', 'reject-publish', 'reject-publish-dlx']],
  ['deadLetterExchange', 'str'],
  ['deadLetterRoutingKey', 'str'],
  ['priorityMax', 'num'],
  ['singleActiveConsumer', 'bool'],
  ['deliveryLimit', 'num'],
  ['streamBytesMax', 'num'],
  ['streamAgeMsMax', 'num'],
  ['partitions', 'num'],
  ['countsPropertyBytes', 'bool'],
  ['arguments', 'headers'],
];

const streamSpec: FieldSpec = [
  ['bytesMax', 'num'],
  ['ageMsMax', 'num'],
  // Settings a front end keeps with the stream: text by text, as a header table of strings.
  ['attributes', 'headers'],
  // Compaction (StreamCompaction), flat: present together on a compacted stream.
  ['tombstoneRetentionMs', 'num'],
  ['lagMsMin', 'num'],
  ['dirtyRatioMin', 'num'],
];

/** A stream definition's fields as `streamSpec` holds them. */
interface StreamFields {
  bytesMax?: number;
  ageMsMax?: number;
  attributes?: Headers;
  tombstoneRetentionMs?: number;
  lagMsMin?: number;
  dirtyRatioMin?: number;
}

function streamFields(info: StreamInfo): StreamFields {
  const { compaction, ...rest } = info;
  return { ...rest, ...compaction };
}

function compactionOf(fields: StreamFields): { compaction?: StreamCompaction } {
  const { tombstoneRetentionMs, lagMsMin, dirtyRatioMin } = fields;
  if (tombstoneRetentionMs === undefined || lagMsMin === undefined || dirtyRatioMin === undefined) return {};
  return { compaction: { tombstoneRetentionMs, lagMsMin, dirtyRatioMin } };
}

function attributesOf(table: Headers | undefined): { attributes?: Readonly<Record<string, string>> } {
  if (table === undefined) return {};
  for (const value of Object.values(table)) {
    if (typeof value !== 'string') throw corrupt('stream attribute that is not text');
  }
  return { attributes: table as Record<string, string> };
}

/**
 * The stored id; a definition written before streams had ids has none and gets the id those builds
 * derived from vhost and name, the same at every open (nothing is written for it: the next snapshot
 * stores it).
 */
function streamIdOf(f: Fields, vhost: string, name: string): string {
  if (!f.has('id')) return derivedStreamId(vhost, name);
  const id = f.str('id');
  if (!isStreamId(id)) throw corrupt(`stream id '${id}'`);
  return id;
}

function bindingToJson(b: StoredBinding): Json {
  return {
    source: b.source,
    destination: b.destination,
    kind: b.destinationKind,
    key: b.routingKey,
    args: headersToJson(b.args),
  };
}

function bindingFromJson(fields: Fields): StoredBinding {
  const kind = fields.str('kind');
  if (kind !== 'queue' && kind !== 'exchange') throw corrupt(`binding destination kind '${kind}'`);
  return {
    source: fields.str('source'),
    destination: fields.str('destination'),
    destinationKind: kind,
    routingKey: fields.str('key'),
    args: fields.headers('args'),
  };
}

function userToJson(user: StoredUser): Json {
  const json: Record<string, Json> = {
    salt: user.salt,
    hash: user.hash,
    cost: user.cost,
    tags: [...user.tags],
  };
  if (user.scram !== undefined) {
    const scram: Record<string, Json> = {};
    for (const [mechanism, credential] of Object.entries(user.scram))
      scram[mechanism] = scramToJson(credential);
    json['scram'] = scram;
  }
  return json;
}

function userFromJson(fields: Fields): StoredUser {
  const user = {
    salt: fields.str('salt'),
    hash: fields.str('hash'),
    cost: fields.int('cost', 1),
    tags: fields.strings('tags'),
  };
  if (!fields.has('scram')) return user;
  const scram: Partial<Record<ScramMechanism, ScramCredential>> = {};
  const stored = fields.fields('scram');
  for (const mechanism of stored.keys()) {
    if (!isScramMechanism(mechanism)) throw corrupt(`SCRAM mechanism '${mechanism}'`);
    scram[mechanism] = scramFromJson(stored.fields(mechanism));
  }
  return { ...user, scram };
}

function scramToJson(credential: ScramCredential): Json {
  return {
    salt: bytesToJson(credential.salt),
    iterations: credential.iterations,
    storedKey: bytesToJson(credential.storedKey),
    serverKey: bytesToJson(credential.serverKey),
  };
}

function scramFromJson(f: Fields): ScramCredential {
  return {
    salt: f.bytes('salt'),
    iterations: f.int('iterations', 1),
    storedKey: f.bytes('storedKey'),
    serverKey: f.bytes('serverKey'),
  };
}

function encodeDefinitions(entry: DefinitionsEntry): Json {
  switch (entry.type) {
    case 'vhost.put':
    case 'vhost.delete':
      return { t: entry.type, vhost: entry.vhost };
    case 'exchange.put':
      return {
        t: entry.type,
        vhost: entry.vhost,
        name: entry.name,
        options: optionalToJson(entry.options, exchangeSpec),
      };
    case 'queue.put':
      return {
        t: entry.type,
        vhost: entry.vhost,
        name: entry.name,
        options: optionalToJson(entry.options, queueSpec),
      };
    case 'exchange.delete':
    case 'queue.delete':
    case 'stream.delete':
      return { t: entry.type, vhost: entry.vhost, name: entry.name };
    case 'binding.put':
    case 'binding.delete':
      return { t: entry.type, vhost: entry.vhost, binding: bindingToJson(entry.binding) };
    case 'stream.put': {
      const { name, id, partitions } = entry.info;
      return {
        t: entry.type,
        vhost: entry.vhost,
        name,
        id,
        partitions,
        ...optionalToJson(streamFields(entry.info), streamSpec),
      };
    }
    case 'user.put':
      return { t: entry.type, name: entry.name, user: userToJson(entry.user) };
    case 'user.delete':
      return { t: entry.type, name: entry.name };
    case 'user.scram':
      return {
        t: entry.type,
        name: entry.name,
        mechanism: entry.mechanism,
        credential: entry.credential === null ? null : scramToJson(entry.credential),
      };
    case 'permission.put':
      return { t: entry.type, vhost: entry.vhost, user: entry.user, ...entry.permission };
    case 'permission.delete':
      return { t: entry.type, vhost: entry.vhost, user: entry.user };
    case 'topicPermission.put':
      return {
        t: entry.type,
        vhost: entry.vhost,
        user: entry.user,
        exchange: entry.exchange,
        ...entry.permission,
      };
    case 'topicPermission.delete':
      return { t: entry.type, vhost: entry.vhost, user: entry.user, exchange: entry.exchange };
    case 'users.seeded':
    case 'permissions.seeded':
    case 'defaultUser.applied':
      return { t: entry.type };
    case 'acl.put':
    case 'acl.delete':
      return encodeAclEntry(entry);
    default:
      return encodePolicyEntry(entry);
  }
}

function decodeDefinitions(json: unknown): DefinitionsEntry {
  const f = new Fields(json, 'definitions entry');
  const type = f.str('t');
  switch (type) {
    case 'vhost.put':
    case 'vhost.delete':
      return { type, vhost: f.str('vhost') };
    case 'exchange.put': {
      const options = optionalFromJson<ExchangeOptions>(f.fields('options'), exchangeSpec);
      if (options.type === undefined) throw corrupt('exchange without a type');
      return { type, vhost: f.str('vhost'), name: f.str('name'), options };
    }
    case 'queue.put':
      return {
        type,
        vhost: f.str('vhost'),
        name: f.str('name'),
        options: optionalFromJson(f.fields('options'), queueSpec),
      };
    case 'exchange.delete':
    case 'queue.delete':
    case 'stream.delete':
      return { type, vhost: f.str('vhost'), name: f.str('name') };
    case 'binding.put':
    case 'binding.delete':
      return { type, vhost: f.str('vhost'), binding: bindingFromJson(f.fields('binding')) };
    case 'stream.put': {
      const fields = optionalFromJson<StreamFields>(f, streamSpec);
      const { bytesMax, ageMsMax, attributes } = fields;
      const vhost = f.str('vhost');
      const name = f.str('name');
      return {
        type,
        vhost,
        info: {
          name,
          id: streamIdOf(f, vhost, name),
          partitions: f.int('partitions', 1),
          ...(bytesMax === undefined ? {} : { bytesMax }),
          ...(ageMsMax === undefined ? {} : { ageMsMax }),
          ...attributesOf(attributes),
          ...compactionOf(fields),
        },
      };
    }
    case 'user.put':
      return { type, name: f.str('name'), user: userFromJson(f.fields('user')) };
    case 'user.delete':
      return { type, name: f.str('name') };
    case 'user.scram': {
      const mechanism = f.str('mechanism');
      if (!isScramMechanism(mechanism)) throw corrupt(`SCRAM mechanism '${mechanism}'`);
      const credential = f.fieldsOrNull('credential');
      return { type, name: f.str('name'), mechanism, credential: credential && scramFromJson(credential) };
    }
    default:
      return decodePermissionEntry(type, f);
  }
}

function decodePermissionEntry(type: string, f: Fields): DefinitionsEntry {
  switch (type) {
    case 'permission.put': {
      const permission = { configure: f.str('configure'), write: f.str('write'), read: f.str('read') };
      return { type, vhost: f.str('vhost'), user: f.str('user'), permission };
    }
    case 'permission.delete':
      return { type, vhost: f.str('vhost'), user: f.str('user') };
    case 'topicPermission.put': {
      const permission = { write: f.str('write'), read: f.str('read') };
      return { type, vhost: f.str('vhost'), user: f.str('user'), exchange: f.str('exchange'), permission };
    }
    case 'topicPermission.delete':
      return { type, vhost: f.str('vhost'), user: f.str('user'), exchange: f.str('exchange') };
    case 'users.seeded':
    case 'permissions.seeded':
    case 'defaultUser.applied':
      return { type };
    case 'acl.put':
    case 'acl.delete':
      return decodeAclEntry(type, f);
    default:
      return decodePolicyEntry(type, f);
  }
}

export const definitionsMachine: StateMachine<DefinitionsState, DefinitionsEntry> = {
  kind: 'definitions',
  initial: () => ({
    vhosts: new Map(),
    users: new Map(),
    permissions: new Map(),
    topicPermissions: new Map(),
    usersSeeded: false,
    permissionsSeeded: false,
    defaultUserApplied: false,
    ...emptyPolicyState(),
    ...emptyAclState(),
  }),
  apply: applyDefinitions,
  encode: encodeDefinitions,
  decode: decodeDefinitions,
  snapshot: snapshotDefinitions,
};
