/**
 * Definitions and users: the broker's one definitions log (`defs`, entries in ./state/defs-entries.ts).
 * Vhosts restore their exchanges, queues and bindings from it, and the stream registries their
 * streams. Writes made by synchronous callers (a declare) are issued at once and not awaited; a write
 * that fails fails the log's executor, and `flush` reports it.
 */
import { Buffer } from 'node:buffer';
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { brokerError, ErrorCode } from '../shared/errors.js';
import type { Storage } from '../storage/types.js';
import type { StreamInfo } from './api.js';
import type { Supervisor } from './exec/supervisor.js';
import { coreLimitsDefault } from './limits.js';
import {
  type PasswordDerive,
  type PasswordHashJob,
  SharedFlights,
  VerifiedCache,
  type VerifiedCacheLimits,
  type VerifyOptions,
} from './login-cache.js';
import { PolicyStore } from './policy/store.js';
import {
  type DefinitionsEntry,
  type DefinitionsState,
  definitionsMachine,
  type StoredBinding,
  type StoredUser,
  type VhostDefinitions,
} from './state/defs-entries.js';
import { definitionsLogName } from './state/names.js';
import { type CompactionLimits, StateLog } from './state/state-log.js';
import type { ExchangeOptions, QueueOptions } from './types.js';

export type { StoredBinding, VhostDefinitions };

const noDefinitions: VhostDefinitions = {
  exchanges: new Map(),
  queues: new Map(),
  bindings: new Map(),
  streams: new Map(),
};

/** What the stream registry of one vhost keeps here. */
export interface StreamDefinitions {
  streams(vhost: string): StreamInfo[];
  putStream(vhost: string, info: StreamInfo): Promise<void>;
  deleteStream(vhost: string, name: string): Promise<void>;
}

export class Definitions implements StreamDefinitions {
  readonly users: Users;
  /** Policies, operator policies, vhost and user limits (./policy/). */
  readonly policies: PolicyStore;
  readonly #log: StateLog<DefinitionsState, DefinitionsEntry>;
  /** The first write a synchronous caller could not hear about. */
  #failure: unknown;

  private constructor(log: StateLog<DefinitionsState, DefinitionsEntry>, users: UsersOptions) {
    this.#log = log;
    this.users = new Users(log, users);
    this.policies = new PolicyStore(log);
  }

  static async open(
    storage: Storage,
    supervisor: Supervisor,
    limits?: CompactionLimits,
    users: UsersOptions = {},
  ): Promise<Definitions> {
    // A failed definitions log stays failed (the supervisor logs it); writes then refuse.
    const exec = supervisor.executor('definitions', definitionsLogName, { onFault: () => undefined });
    const identity = { kind: definitionsMachine.kind, vhost: '', name: '' };
    const options = {
      storage,
      machine: definitionsMachine,
      exec,
      identity,
      ...(limits === undefined ? {} : { limits }),
    };
    return new Definitions(await StateLog.open(options, definitionsLogName), users);
  }

  vhostNames(): string[] {
    return [...this.#log.state.vhosts.keys()];
  }

  putVhost(vhost: string): Promise<void> {
    if (this.#log.state.vhosts.has(vhost)) return this.#log.settled();
    return this.#log.commit({ type: 'vhost.put', vhost });
  }

  deleteVhost(vhost: string): Promise<void> {
    return this.#log.commit({ type: 'vhost.delete', vhost });
  }

  load(vhost: string): VhostDefinitions {
    return this.#log.state.vhosts.get(vhost) ?? noDefinitions;
  }

  putExchange(vhost: string, name: string, options: ExchangeOptions): void {
    this.#issue({ type: 'exchange.put', vhost, name, options });
  }

  deleteExchange(vhost: string, name: string): void {
    this.#issue({ type: 'exchange.delete', vhost, name });
  }

  putQueue(vhost: string, name: string, options: QueueOptions): void {
    const { exclusiveOwner: _owner, ...stored } = options;
    this.#issue({ type: 'queue.put', vhost, name, options: stored });
  }

  deleteQueue(vhost: string, name: string): void {
    this.#issue({ type: 'queue.delete', vhost, name });
  }

  putBinding(vhost: string, binding: StoredBinding): void {
    this.#issue({ type: 'binding.put', vhost, binding });
  }

  deleteBinding(vhost: string, binding: StoredBinding): void {
    this.#issue({ type: 'binding.delete', vhost, binding });
  }

  streams(vhost: string): StreamInfo[] {
    return [...this.load(vhost).streams.values()];
  }

  putStream(vhost: string, info: StreamInfo): Promise<void> {
    return this.#log.commit({ type: 'stream.put', vhost, info });
  }

  deleteStream(vhost: string, name: string): Promise<void> {
    return this.#log.commit({ type: 'stream.delete', vhost, name });
  }

  /** Whether the server applied its configured default user on an earlier start. */
  get defaultUserApplied(): boolean {
    return this.#log.state.defaultUserApplied;
  }

  markDefaultUserApplied(): Promise<void> {
    if (this.#log.state.defaultUserApplied) return this.#log.settled();
    return this.#log.commit({ type: 'defaultUser.applied' });
  }

  /** Waits for every write issued so far; rethrows the first failure seen. */
  async flush(): Promise<void> {
    await this.#log.settled();
    if (this.#failure !== undefined) throw this.#failure;
  }

  async close(): Promise<void> {
    await this.#log.close();
  }

  /** A write for a synchronous caller: its failure surfaces through `flush` (and the executor). */
  #issue(entry: DefinitionsEntry): void {
    try {
      this.#log.commit(entry).catch((err: unknown) => {
        this.#failure ??= err;
      });
    } catch (err) {
      this.#failure ??= err;
    }
  }
}

// ---- users

/** scrypt parameters: N=2^14, r=8 costs ~16 MiB and tens of milliseconds, as node's defaults. */
const scryptCost = 16_384;
const keyBytes = 32;
const saltBytes = 16;
/** Longest password accepted; longer input is refused before hashing so it cannot cost CPU. */
const passwordBytesMax = 1024;

function deriveOnLibuv(job: PasswordHashJob): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    scrypt(job.password, job.salt, job.keyBytes, { N: job.cost, r: 8, p: 1 }, (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}

/** Salt for names that are not users: a wrong name costs the same hash as a wrong password. */
const absentSalt = randomBytes(saltBytes);

const verifiedCacheDefault: VerifiedCacheLimits = {
  ttlMs: coreLimitsDefault.loginCacheTtlMs,
  entriesMax: coreLimitsDefault.loginCacheEntriesMax,
};

export interface UsersOptions {
  /** The verified-credential cache's bounds (./login-cache.ts). */
  readonly verified?: VerifiedCacheLimits;
}

export class Users {
  readonly #log: StateLog<DefinitionsState, DefinitionsEntry>;
  readonly #verified: VerifiedCache;
  readonly #flights = new SharedFlights<boolean>();

  constructor(log: StateLog<DefinitionsState, DefinitionsEntry>, options: UsersOptions = {}) {
    this.#log = log;
    this.#verified = new VerifiedCache(options.verified ?? verifiedCacheDefault);
  }

  names(): string[] {
    return [...this.#log.state.users.keys()];
  }

  tags(name: string): string[] | undefined {
    const tags = this.#log.state.users.get(name)?.tags;
    return tags === undefined ? undefined : [...tags];
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
    const hash = await deriveOnLibuv({ password, salt, cost: scryptCost, keyBytes });
    const user: StoredUser = {
      salt: salt.toString('base64'),
      hash: Buffer.from(hash).toString('base64'),
      cost: scryptCost,
      tags,
    };
    await this.#log.commit({ type: 'user.put', name, user });
  }

  async delete(name: string): Promise<void> {
    if (this.#log.state.users.has(name)) await this.#log.commit({ type: 'user.delete', name });
  }

  /**
   * Checks a password against the user's salted scrypt hash; false for unknown users (after the same
   * work). A credential verified less than the cache's TTL ago, against the hash stored now, is not
   * hashed again, and overlapping checks of one credential share one hash (./login-cache.ts).
   */
  verify(name: string, password: string, options: VerifyOptions = {}): Promise<boolean> {
    if (Buffer.byteLength(password) > passwordBytesMax) return Promise.resolve(false);
    const key = this.#verified.keyOf(name, password);
    const user = this.#log.state.users.get(name);
    if (user !== undefined && this.#verified.has(key, user.hash)) return Promise.resolve(true);
    const derive = options.derive ?? deriveOnLibuv;
    return this.#flights.join(key, options.signal, (signal) =>
      this.#check(name, password, key, derive, signal),
    );
  }

  async #check(
    name: string,
    password: string,
    key: string,
    derive: PasswordDerive,
    signal: AbortSignal,
  ): Promise<boolean> {
    const user = this.#log.state.users.get(name);
    const salt = user === undefined ? absentSalt : Buffer.from(user.salt, 'base64');
    const actual = await derive({ password, salt, cost: user?.cost ?? scryptCost, keyBytes }, signal);
    // Changed or deleted while hashing: the answer is about a password that no longer applies.
    if (user === undefined || this.#log.state.users.get(name)?.hash !== user.hash) return false;
    const expected = Buffer.from(user.hash, 'base64');
    const ok = actual.byteLength === expected.length && timingSafeEqual(actual, expected);
    if (ok) this.#verified.add(key, user.hash);
    return ok;
  }

  /** The first start creates `guest`/`guest` (RabbitMQ's default; loopback-only is the adapters' rule). */
  async ensureDefault(): Promise<void> {
    if (this.#log.state.usersSeeded) return;
    if (this.#log.state.users.size === 0) await this.put('guest', 'guest', ['administrator']);
    await this.#log.commit({ type: 'users.seeded' });
  }
}
