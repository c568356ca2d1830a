/**
 * Definitions: what must survive a restart besides messages. Durable exchanges, durable queues (with
 * their options), bindings between durable objects, vhosts and users live in `storage.meta`, one key
 * per object so every change is one atomic put:
 *
 *   vhosts/<vhost>                                   {}
 *   def/<vhost>/exchange/<name>                      { options }
 *   def/<vhost>/queue/<name>                         { options }
 *   def/<vhost>/binding/<source>/<kind>/<dest>/<key>/<args>   { source, destination, kind, routingKey, args }
 *   users/<name>                                     { salt, hash, keyBytes, cost }
 *
 * Name parts are percent-encoded so '/' inside a name (the default vhost is '/') cannot clash. Values
 * are plain JSON; header tables are tagged so bytes, bigints, dates and typed numbers (an AMQP `s`
 * argument stays an int16) come back as they went in.
 * Exclusive queues are never written: RabbitMQ deletes them with their connection, so a restart finds
 * none.
 */
import { Buffer } from 'node:buffer';
import { createHmac, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { brokerError, ErrorCode } from '../shared/errors.js';
import type { MetaStore } from '../storage/types.js';
import { canonicalHeaders } from './routing/headers.js';
import {
  type ExchangeOptions,
  type Headers,
  type HeaderValue,
  type QueueOptions,
  TypedNumber,
  type TypedNumberType,
  typedNumberTypes,
} from './types.js';

export interface StoredBinding {
  readonly source: string;
  readonly destination: string;
  readonly destinationKind: 'queue' | 'exchange';
  readonly routingKey: string;
  readonly args: Headers;
}

export interface VhostDefinitions {
  readonly exchanges: Array<{ name: string; options: ExchangeOptions }>;
  readonly queues: Array<{ name: string; options: QueueOptions }>;
  readonly bindings: StoredBinding[];
}

const part = (name: string): string => encodeURIComponent(name);
const unpart = (text: string): string => decodeURIComponent(text);

export const defKeys = {
  vhost: (vhost: string) => `vhosts/${part(vhost)}`,
  vhostPrefix: 'vhosts/',
  all: (vhost: string) => `def/${part(vhost)}/`,
  exchange: (vhost: string, name: string) => `def/${part(vhost)}/exchange/${part(name)}`,
  queue: (vhost: string, name: string) => `def/${part(vhost)}/queue/${part(name)}`,
  binding: (vhost: string, b: StoredBinding) =>
    `def/${part(vhost)}/binding/${part(b.source)}/${b.destinationKind}/${part(b.destination)}/${part(b.routingKey)}/${part(canonicalHeaders(b.args))}`,
  user: (name: string) => `users/${part(name)}`,
  userPrefix: 'users/',
  /** Set once the default user was created, so deleting every user later does not bring guest back. */
  usersSeeded: 'core/users-seeded',
} as const;

/** Writes definitions; each change is issued at once and tracked so `flush` can wait for all. */
export class Definitions {
  readonly #meta: MetaStore;
  readonly #pending = new Set<Promise<void>>();
  #failure: unknown;

  constructor(meta: MetaStore) {
    this.#meta = meta;
  }

  vhostNames(): string[] {
    return this.#meta
      .entries(defKeys.vhostPrefix)
      .map(([key]) => unpart(key.slice(defKeys.vhostPrefix.length)));
  }

  putVhost(vhost: string): Promise<void> {
    return this.#track(this.#meta.put(defKeys.vhost(vhost), {}));
  }

  async deleteVhost(vhost: string): Promise<void> {
    const writes = this.#meta.entries(defKeys.all(vhost)).map(([key]) => this.#meta.delete(key));
    writes.push(this.#meta.delete(defKeys.vhost(vhost)));
    await this.#track(Promise.all(writes).then(() => undefined));
  }

  putExchange(vhost: string, name: string, options: ExchangeOptions): void {
    const stored = { ...options, arguments: headersToJson(options.arguments ?? {}) };
    void this.#track(this.#meta.put(defKeys.exchange(vhost, name), stored));
  }

  deleteExchange(vhost: string, name: string): void {
    void this.#track(this.#meta.delete(defKeys.exchange(vhost, name)));
  }

  putQueue(vhost: string, name: string, options: QueueOptions): void {
    const { exclusiveOwner: _owner, arguments: args, ...rest } = options;
    void this.#track(
      this.#meta.put(defKeys.queue(vhost, name), { ...rest, arguments: headersToJson(args ?? {}) }),
    );
  }

  deleteQueue(vhost: string, name: string): void {
    void this.#track(this.#meta.delete(defKeys.queue(vhost, name)));
  }

  putBinding(vhost: string, binding: StoredBinding): void {
    const stored = { ...binding, args: headersToJson(binding.args) };
    void this.#track(this.#meta.put(defKeys.binding(vhost, binding), stored));
  }

  deleteBinding(vhost: string, binding: StoredBinding): void {
    void this.#track(this.#meta.delete(defKeys.binding(vhost, binding)));
  }

  load(vhost: string): VhostDefinitions {
    const out: VhostDefinitions = { exchanges: [], queues: [], bindings: [] };
    const prefix = defKeys.all(vhost);
    for (const [key, value] of this.#meta.entries(prefix)) {
      const [kind, name] = key.slice(prefix.length).split('/');
      const record = value as Record<string, unknown>;
      if (kind === 'exchange' && name !== undefined) {
        const options = { ...record, arguments: headersFromJson(record['arguments']) } as ExchangeOptions;
        out.exchanges.push({ name: unpart(name), options });
      } else if (kind === 'queue' && name !== undefined) {
        const options = { ...record, arguments: headersFromJson(record['arguments']) } as QueueOptions;
        out.queues.push({ name: unpart(name), options });
      } else if (kind === 'binding') {
        out.bindings.push({ ...(record as unknown as StoredBinding), args: headersFromJson(record['args']) });
      }
    }
    return out;
  }

  /** Waits for every write issued so far; rethrows the first write failure seen. */
  async flush(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
    if (this.#failure !== undefined) throw this.#failure;
  }

  #track(write: Promise<void>): Promise<void> {
    const tracked = write.then(
      () => {
        this.#pending.delete(tracked);
      },
      (err: unknown) => {
        this.#pending.delete(tracked);
        this.#failure ??= err;
        throw err;
      },
    );
    // Definition writes are fire-and-forget for sync callers; failures surface through `flush`.
    tracked.catch(() => {});
    this.#pending.add(tracked);
    return tracked;
  }
}

// ---- header tables as JSON ----

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export function headersToJson(headers: Headers): { [key: string]: Json } {
  const out: { [key: string]: Json } = {};
  for (const [key, value] of Object.entries(headers)) out[key] = valueToJson(value);
  return out;
}

function valueToJson(value: HeaderValue): Json {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : { $num: String(value) };
  if (typeof value === 'bigint') return { $big: value.toString() };
  if (value instanceof Uint8Array) return { $bytes: Buffer.from(value).toString('base64') };
  if (value instanceof Date) return { $date: value.getTime() };
  if (value instanceof TypedNumber) return typedToJson(value);
  if (Array.isArray(value)) return value.map(valueToJson);
  return { $table: headersToJson(value) };
}

export function headersFromJson(json: unknown): Headers {
  if (json === null || typeof json !== 'object') return {};
  const out: Headers = {};
  for (const [key, value] of Object.entries(json as Record<string, Json>)) out[key] = valueFromJson(value);
  return out;
}

function valueFromJson(json: Json): HeaderValue {
  if (json === null || typeof json !== 'object') return json;
  if (Array.isArray(json)) return json.map(valueFromJson);
  if ('$num' in json) return Number(json['$num']);
  if ('$big' in json) return BigInt(json['$big'] as string);
  if ('$bytes' in json) return new Uint8Array(Buffer.from(json['$bytes'] as string, 'base64'));
  if ('$date' in json) return new Date(json['$date'] as number);
  if ('$typed' in json) return typedFromJson(json);
  return headersFromJson(json['$table']);
}

/** The value as text, so int64 beyond 2^53, NaN and -0 survive JSON. */
function typedToJson(value: TypedNumber): Json {
  const text = Object.is(value.value, -0) ? '-0' : value.value.toString();
  return value.type === 'decimal'
    ? { $typed: value.type, value: text, scale: value.scale }
    : { $typed: value.type, value: text };
}

function typedFromJson(json: { [key: string]: Json }): HeaderValue {
  const type = json['$typed'] as TypedNumberType;
  const text = String(json['value']);
  if (!typedNumberTypes.includes(type)) {
    throw brokerError(ErrorCode.storageCorrupt, `Stored header has unknown number type ${String(type)}`);
  }
  const value = type === 'int64' && /^-?\d+$/.test(text) ? BigInt(text) : Number(text);
  const scale = typeof json['scale'] === 'number' ? json['scale'] : 0;
  return new TypedNumber(type, value, scale);
}

// ---- users ----

/** scrypt parameters: N=2^14, r=8 costs ~16 MiB and tens of milliseconds, as node's defaults. */
const scryptCost = 16_384;
const keyBytes = 32;
const saltBytes = 16;
/** Longest password accepted; longer input is refused before hashing so it cannot cost CPU. */
const passwordBytesMax = 1024;

interface StoredUser {
  readonly salt: string;
  readonly hash: string;
  readonly cost: number;
  readonly tags: string[];
}

/**
 * scrypt runs on libuv's small thread pool, which file I/O shares. A flood of logins (connections
 * that send credentials and go) must not queue unbounded work there: a legitimate login would wait
 * behind it past its handshake timeout, and so would every disk write. So a few derivations run at
 * once, a bounded number wait, and a login beyond that is refused at once.
 */
const derivesAtOnceMax = 2;
const derivesWaitingMax = 64;

function derive(password: string, salt: Buffer, cost: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, keyBytes, { N: cost, r: 8, p: 1 }, (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}

/** At most `derivesAtOnceMax` derivations at once; undefined when too many already wait. */
class DeriveGate {
  #running = 0;
  readonly #waiting: Array<() => void> = [];

  async run(password: string, salt: Buffer, cost: number): Promise<Buffer | undefined> {
    if (this.#running < derivesAtOnceMax) this.#running++;
    else if (this.#waiting.length >= derivesWaitingMax) return undefined;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve)); // the slot is handed over
    try {
      return await derive(password, salt, cost);
    } finally {
      const next = this.#waiting.shift();
      if (next === undefined) this.#running--;
      else next();
    }
  }
}

export class Users {
  readonly #meta: MetaStore;
  readonly #gate = new DeriveGate();
  /**
   * The last password scrypt accepted for each user, as an HMAC under a key that lives only in this
   * process and over the stored hash too (a changed password no longer matches). A client that
   * reconnects with a proven password costs one HMAC instead of another scrypt.
   */
  readonly #proven = new Map<string, Buffer>();
  readonly #proofKey = randomBytes(32);

  constructor(meta: MetaStore) {
    this.#meta = meta;
  }

  names(): string[] {
    return this.#meta
      .entries(defKeys.userPrefix)
      .map(([key]) => unpart(key.slice(defKeys.userPrefix.length)));
  }

  tags(name: string): string[] | undefined {
    return (this.#meta.get(defKeys.user(name)) as StoredUser | undefined)?.tags;
  }

  async put(name: string, password: string, tags: string[] = []): Promise<void> {
    // `verify` refuses longer passwords (bounded scrypt work per login), so such a user could never log in.
    if (Buffer.byteLength(password) > passwordBytesMax) {
      throw brokerError(
        ErrorCode.invalidArgument,
        `Password of user ${name} is longer than ${passwordBytesMax} bytes`,
      );
    }
    const salt = randomBytes(saltBytes);
    const hash = await derive(password, salt, scryptCost);
    this.#proven.delete(name);
    const user: StoredUser = {
      salt: salt.toString('base64'),
      hash: hash.toString('base64'),
      cost: scryptCost,
      tags,
    };
    await this.#meta.put(defKeys.user(name), user);
  }

  delete(name: string): Promise<void> {
    this.#proven.delete(name);
    return this.#meta.delete(defKeys.user(name));
  }

  async verify(name: string, password: string): Promise<boolean> {
    const user = this.#meta.get(defKeys.user(name)) as StoredUser | undefined;
    if (user === undefined || Buffer.byteLength(password) > passwordBytesMax) return false;
    const proof = createHmac('sha256', this.#proofKey)
      .update(user.hash)
      .update('\0')
      .update(password)
      .digest();
    const proven = this.#proven.get(name);
    if (proven !== undefined && timingSafeEqual(proven, proof)) return true;
    const expected = Buffer.from(user.hash, 'base64');
    const actual = await this.#gate.run(password, Buffer.from(user.salt, 'base64'), user.cost);
    const ok = actual !== undefined && actual.length === expected.length && timingSafeEqual(actual, expected);
    if (ok) this.#proven.set(name, proof);
    return ok;
  }

  /** The first start creates `guest`/`guest` (RabbitMQ's default; loopback-only is the adapters' rule). */
  async ensureDefault(): Promise<void> {
    if (this.#meta.get(defKeys.usersSeeded) !== undefined) return;
    if (this.names().length === 0) await this.put('guest', 'guest', ['administrator']);
    await this.#meta.put(defKeys.usersSeeded, true);
  }
}
