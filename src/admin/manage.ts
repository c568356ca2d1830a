/**
 * The admin API's writes and the model's listings, in RabbitMQ's shapes: users, permissions, topic
 * permissions, vhosts, queues and exchanges, and definitions export/import. Every route runs core
 * commands as the logged-in user, so core's authorizer decides (users, vhosts and permissions need
 * `administrator`; a `management` user declares and deletes where its vhost permissions allow).
 */
import type { CoreClient, UserCredential } from '../core/api.js';
import type { ExchangeType } from '../core/types.js';
import { HttpError } from './errors.js';
import type { Json } from './json.js';
import { aclJson, importAcls } from './kafka-acls.js';
import { exportPolicySections, importPolicySections } from './policy-definitions.js';
import { importScram, scramCredentialsIn, scramJson } from './scram-definitions.js';

export type JsonReply = { readonly status: number; readonly body: Json | undefined };

type JsonObject = { readonly [key: string]: Json };

const created: JsonReply = { status: 201, body: undefined };
const noContent: JsonReply = { status: 204, body: undefined };
const exchangeTypes: readonly ExchangeType[] = ['direct', 'fanout', 'topic', 'headers'];
/** The hashing algorithm named in user listings and definitions (RabbitMQ names its own there). */
const hashingAlgorithm = 'switchyard_scrypt';

function badRequest(reason: string): never {
  throw new HttpError(400, 'bad_request', reason);
}

function notFound(reason: string): never {
  throw new HttpError(404, 'not_found', reason);
}

function objectOf(body: Json | undefined): JsonObject {
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    badRequest('The body must be a JSON object');
  return body as JsonObject;
}

function stringField(body: JsonObject, name: string, fallback?: string): string {
  const value = body[name] ?? fallback;
  if (typeof value !== 'string') badRequest(`'${name}' must be a string`);
  return value;
}

function booleanField(body: JsonObject, name: string, fallback: boolean): boolean {
  const given = body[name] ?? fallback;
  // rabbitmqadmin sends every field as a string: RabbitMQ takes "true" and "false" too.
  const value = given === 'true' ? true : given === 'false' ? false : given;
  if (typeof value !== 'boolean') badRequest(`'${name}' must be true or false`);
  return value;
}

/** RabbitMQ takes tags as a comma-separated string (older) or a list (newer). */
function tagsOf(value: Json | undefined): string[] {
  if (value === undefined || value === null) return [];
  const list =
    typeof value === 'string' ? value.split(',') : Array.isArray(value) ? value : badRequest('bad tags');
  return list
    .map((tag) => (typeof tag === 'string' ? tag.trim() : badRequest("'tags' must be strings")))
    .filter(Boolean);
}

function credentialOf(body: JsonObject): UserCredential {
  const { password, password_hash: hash } = body;
  if (typeof password === 'string') return { password };
  if (typeof hash === 'string') return { passwordHash: hash };
  return { none: true };
}

function userJson(user: { name: string; tags: readonly string[]; passwordHash: string }): JsonObject {
  return {
    name: user.name,
    tags: [...user.tags],
    password_hash: user.passwordHash,
    hashing_algorithm: hashingAlgorithm,
  };
}

function permissionJson(row: {
  vhost: string;
  user: string;
  configure: string;
  write: string;
  read: string;
}) {
  return { user: row.user, vhost: row.vhost, configure: row.configure, write: row.write, read: row.read };
}

function topicJson(row: { vhost: string; user: string; exchange: string; write: string; read: string }) {
  return { user: row.user, vhost: row.vhost, exchange: row.exchange, write: row.write, read: row.read };
}

function requireVhost(core: CoreClient, vhost: string): void {
  if (!core.vhostNames().includes(vhost)) notFound(`No vhost ${vhost}`);
}

async function users(core: CoreClient, method: string, name: string | undefined, body: Json | undefined) {
  if (name === undefined) {
    if (method !== 'GET') return undefined;
    return { status: 200, body: core.listUsers().map(userJson) };
  }
  if (method === 'GET') {
    const user = core.getUser(name);
    return user === undefined ? notFound(`No user ${name}`) : { status: 200, body: userJson(user) };
  }
  if (method === 'PUT') {
    const fields = objectOf(body);
    const existing = core.getUser(name);
    const given = credentialOf(fields);
    // Without a password, an existing user keeps its own: a PUT of tags alone changes the tags.
    const credential =
      'none' in given && existing !== undefined ? { passwordHash: existing.passwordHash } : given;
    await core.putUser(name, credential, tagsOf(fields['tags']));
    return existing === undefined ? created : noContent;
  }
  if (method !== 'DELETE') return undefined;
  if (core.getUser(name) === undefined) notFound(`No user ${name}`);
  await core.deleteUser(name);
  return noContent;
}

async function permissions(core: CoreClient, method: string, vhost?: string, user?: string, body?: Json) {
  if (vhost === undefined || user === undefined) {
    if (method !== 'GET') return undefined;
    return {
      status: 200,
      body: core.listPermissions(vhost === undefined ? {} : { vhost }).map(permissionJson),
    };
  }
  if (method === 'GET') {
    const row = core.listPermissions({ vhost, user })[0];
    return row === undefined
      ? notFound(`No permission for ${user} in ${vhost}`)
      : { status: 200, body: permissionJson(row) };
  }
  if (method === 'PUT') {
    const f = objectOf(body);
    const existed = core.listPermissions({ vhost, user }).length > 0;
    const permission = {
      configure: stringField(f, 'configure'),
      write: stringField(f, 'write'),
      read: stringField(f, 'read'),
    };
    await core.setPermission(vhost, user, permission);
    return existed ? noContent : created;
  }
  if (method !== 'DELETE') return undefined;
  await core.clearPermission(vhost, user);
  return noContent;
}

async function topicPermissions(
  core: CoreClient,
  method: string,
  vhost?: string,
  user?: string,
  body?: Json,
) {
  if (vhost === undefined || user === undefined) {
    if (method !== 'GET') return undefined;
    const rows = core.listTopicPermissions(vhost === undefined ? {} : { vhost });
    return { status: 200, body: rows.map(topicJson) };
  }
  if (method === 'GET')
    return { status: 200, body: core.listTopicPermissions({ vhost, user }).map(topicJson) };
  if (method === 'PUT') {
    const f = objectOf(body);
    const exchange = stringField(f, 'exchange');
    const existed = core.listTopicPermissions({ vhost, user }).some((row) => row.exchange === exchange);
    await core.setTopicPermission(vhost, user, exchange, {
      write: stringField(f, 'write'),
      read: stringField(f, 'read'),
    });
    return existed ? noContent : created;
  }
  if (method !== 'DELETE') return undefined;
  await core.clearTopicPermission(vhost, user);
  return noContent;
}

async function vhost(core: CoreClient, method: string, name: string): Promise<JsonReply | undefined> {
  const exists = core.vhostNames().includes(name);
  if (method === 'PUT') {
    // Also when it exists: a vhost another request is adding is answered once it is stored.
    await core.addVhost(name);
    return exists ? noContent : created;
  }
  if (method !== 'DELETE') return undefined;
  if (!exists) notFound(`No vhost ${name}`);
  await core.deleteVhost(name);
  return noContent;
}

/**
 * PUT and DELETE of one queue or exchange, as the user: configure permission on its name. Answered
 * once the definitions log holds the change: a 2xx means it survives a crash.
 */
async function object(core: CoreClient, method: string, kind: string, name: string, body: Json | undefined) {
  const reply = changeObject(core, method, kind, name, body);
  if (reply !== undefined) await core.definitionsDurable();
  return reply;
}

function changeObject(core: CoreClient, method: string, kind: string, name: string, body: Json | undefined) {
  if (method === 'DELETE') {
    if (kind === 'queues') core.deleteQueue(name);
    else core.deleteExchange(name);
    return noContent;
  }
  if (method !== 'PUT') return undefined;
  const f = objectOf(body ?? {});
  const durable = booleanField(f, 'durable', true);
  const autoDelete = booleanField(f, 'auto_delete', false);
  if (kind === 'queues') {
    core.declareQueue(name, { durable, autoDelete });
    return created;
  }
  const type = stringField(f, 'type', 'direct') as ExchangeType;
  if (!exchangeTypes.includes(type)) badRequest(`Unknown exchange type '${type}'`);
  core.declareExchange(name, { type, durable, autoDelete });
  return created;
}

/** Users, vhosts, permissions and topic permissions, as RabbitMQ's definitions file carries them. */
export function exportDefinitions(core: CoreClient, version: string): JsonObject {
  const { policies, parameters, userLimits } = exportPolicySections(core);
  return {
    switchyard_version: version,
    users: core.listUsers().map((user) => {
      const limits = userLimits[user.name];
      const json = { ...userJson(user), ...scramJson(core, user.name) };
      return limits === undefined ? json : { ...json, limits };
    }),
    vhosts: core.vhostNames().map((name) => ({ name })),
    permissions: core.listPermissions().map(permissionJson),
    topic_permissions: core.listTopicPermissions().map(topicJson),
    policies: policies as JsonObject[],
    parameters: parameters as JsonObject[],
    kafka_acls: core.listAcls().map(aclJson),
  };
}

function listOf(body: JsonObject, name: string): JsonObject[] {
  const value = body[name] ?? [];
  if (!Array.isArray(value)) badRequest(`'${name}' must be a list`);
  return value.map(objectOf);
}

/** Creates or replaces what the file names; leaves everything else as it is (RabbitMQ's import). */
export async function importDefinitions(core: CoreClient, body: Json | undefined): Promise<void> {
  const file = objectOf(body);
  const vhosts = listOf(file, 'vhosts').map((v) => stringField(v, 'name'));
  const users = listOf(file, 'users');
  const rows = listOf(file, 'permissions');
  const topics = listOf(file, 'topic_permissions');
  for (const name of vhosts) if (!core.vhostNames().includes(name)) await core.addVhost(name);
  const scram = users.map(scramCredentialsIn);
  for (const [i, u] of users.entries()) {
    const name = stringField(u, 'name');
    await core.putUser(name, credentialOf(u), tagsOf(u['tags']));
    const credentials = scram[i];
    if (credentials !== undefined) await importScram(core, name, credentials);
  }
  for (const p of rows) {
    const permission = {
      configure: stringField(p, 'configure'),
      write: stringField(p, 'write'),
      read: stringField(p, 'read'),
    };
    await core.setPermission(stringField(p, 'vhost'), stringField(p, 'user'), permission);
  }
  for (const t of topics) {
    const permission = { write: stringField(t, 'write'), read: stringField(t, 'read') };
    await core.setTopicPermission(
      stringField(t, 'vhost'),
      stringField(t, 'user'),
      stringField(t, 'exchange'),
      permission,
    );
  }
  await importPolicySections(core, file);
  await importAcls(core, file['kafka_acls']);
}

/**
 * The routes of this module: `parts` are the decoded path segments after `/api`. Undefined: not a
 * route here (or not with this method), for the caller to answer 404 or 405.
 */
export async function manage(
  core: CoreClient,
  method: string,
  parts: readonly string[],
  body: Json | undefined,
  version: string,
): Promise<JsonReply | undefined> {
  const [resource, first, second, ...rest] = parts;
  if (rest.length > 0) return undefined;
  switch (resource) {
    case 'whoami': {
      if (method !== 'GET' || first !== undefined) return undefined;
      const access = core.describeAccess();
      return { status: 200, body: { name: access.user, tags: [...access.tags] } };
    }
    case 'users':
      if (second === 'permissions' && method === 'GET')
        return { status: 200, body: core.listPermissions({ user: first! }).map(permissionJson) };
      return second === undefined ? users(core, method, first, body) : undefined;
    case 'permissions':
      return permissions(core, method, first, second, body);
    case 'topic-permissions':
      return topicPermissions(core, method, first, second, body);
    case 'vhosts':
      return first === undefined || second !== undefined ? undefined : vhost(core, method, first);
    case 'queues':
    case 'exchanges':
      if (first === undefined || second === undefined) return undefined;
      requireVhost(core, first);
      return object(core.inVhost(first), method, resource, second, body);
    case 'definitions':
      if (first !== undefined) return undefined;
      if (method === 'GET') return { status: 200, body: exportDefinitions(core, version) };
      if (method !== 'POST') return undefined;
      await importDefinitions(core, body);
      return noContent;
    default:
      return undefined;
  }
}
