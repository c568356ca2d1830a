/**
 * Definitions, users and permissions: the broker's one definitions log (`defs`, entries in
 * ./state/defs-entries.ts). Vhosts restore their exchanges, queues and bindings from it, and the
 * stream registries their streams. Writes made by synchronous callers (a declare) are issued at once
 * and not awaited; a write that fails fails the log's executor, and `flush` reports it.
 */
import { Buffer } from 'node:buffer';
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { brokerError, ErrorCode } from '../shared/errors.js';
import type { Storage } from '../storage/types.js';
import { AclStore } from './acl-store.js';
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
import { type DefinitionsLog, Permissions } from './permissions.js';
import { PolicyStore } from './policy/store.js';
import {
  type ScramCredential,
  type ScramCredentials,
  type ScramMechanism,
  scramCredentialsOf,
  scramMechanisms,
} from './scram.js';
import {
  changesAccess,
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
import type { UserCredential, UserView } from './views.js';

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

/**
 * The log as users and permissions write it: every entry that changes who may do what moves
 * `generation` on, so permissions compiled before it are compiled again (./entry/authorize.ts).
 */
class AccessLog implements DefinitionsLog {
  readonly #log: StateLog<DefinitionsState, DefinitionsEntry>;
  #generation = 0;

  constructor(log: StateLog<DefinitionsState, DefinitionsEntry>) {
    this.#log = log;
  }

  get state(): DefinitionsState {
    return this.#log.state;
  }

  get generation(): number {
    return this.#generation;
  }

  /** The entry applies at once (the next read sees it); the promise is its durability. */
  commit(entry: DefinitionsEntry): Promise<void> {
    const durable = this.#log.commit(entry);
    if (changesAccess(entry)) this.#generation++;
    return durable;
  }

  settled(): Promise<void> {
    return this.#log.settled();
  }
}

export class Definitions implements StreamDefinitions {
  readonly users: Users;
  readonly permissions: Permissions;
  /** Policies, operator policies, vhost and user limits (./policy/). */
  readonly policies: PolicyStore;
  /** Kafka's ACL bindings (./acls.ts). */
  readonly acls: AclStore;
  readonly #log: StateLog<DefinitionsState, DefinitionsEntry>;
  readonly #access: AccessLog;
  /** The first write a synchronous caller could not hear about. */
  #failure: unknown;

  private constructor(log: StateLog<DefinitionsState, DefinitionsEntry>, users: UsersOptions) {
    this.#log = log;
    this.#access = new AccessLog(log);
    this.users = new Users(this.#access, users);
    this.permissions = new Permissions(this.#access);
    this.policies = new PolicyStore(log);
    this.acls = new AclStore(this.#access);
  }

  /** Moves on with every change of users, permissions or ACLs (a vhost's deletion included). */
  get accessGeneration(): number {
    return this.#access.generation;
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
    return this.#access.commit({ type: 'vhost.delete', vhost });
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

  /** Resolves once the queue's definition is durable (a failure also surfaces through `flush`). */
  putQueue(vhost: string, name: string, options: QueueOptions): Promise<void> {
    const { exclusiveOwner: _owner, ...stored } = options;
    return this.#issue({ type: 'queue.put', vhost, name, options: stored });
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

  /** Whether users were seeded on an earlier start (false: this data folder is new). */
  get usersSeeded(): boolean {
    return this.#log.state.usersSeeded;
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

  /**
   * A write for a synchronous caller: its failure surfaces through `flush` (and the executor). The
   * promise is the write's durability, for a caller that waits for it; ignoring it is safe.
   */
  #issue(entry: DefinitionsEntry): Promise<void> {
    let durable: Promise<void>;
    try {
      durable = this.#log.commit(entry);
    } catch (err) {
      durable = Promise.reject(err);
    }
    durable.catch((err: unknown) => {
      this.#failure ??= err;
    });
    return durable;
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
  /** Hashes passwords when no caller gives its own `derive`; default: scrypt on libuv's pool. */
  readonly derive?: PasswordDerive | undefined;
}

const hashNamePrefix = '$scrypt$N=';
/** A stored hash may not ask for more work than this per login: 2^17 × 128 × 8 bytes = 128 MiB. */
const scryptCostMax = 2 ** 17;
const scryptCostMin = 2 ** 10;
const hashPattern = /^\$scrypt\$N=(\d{1,7}),r=8,p=1\$([A-Za-z0-9+/]{11,88}={0,2})\$([A-Za-z0-9+/]{43}=)$/;

function encodeHash(user: Pick<StoredUser, 'salt' | 'hash' | 'cost'>): string {
  return user.hash === '' ? '' : `${hashNamePrefix}${user.cost},r=8,p=1$${user.salt}$${user.hash}`;
}

/** A hash string as `encodeHash` writes it; refused unless its cost is a power of two within bounds. */
function decodeHash(text: string): Pick<StoredUser, 'salt' | 'hash' | 'cost'> {
  if (text === '') return { salt: '', hash: '', cost: scryptCost };
  const match = hashPattern.exec(text);
  const cost = Number(match?.[1]);
  const powerOfTwo = Number.isInteger(Math.log2(cost));
  if (match === null || !powerOfTwo || cost < scryptCostMin || cost > scryptCostMax) {
    throw brokerError(
      ErrorCode.invalidArgument,
      `A password hash is '$scrypt$N=<2^10..2^17>,r=8,p=1$<salt>$<hash>' in base64, or '' for none`,
    );
  }
  return { cost, salt: match[2]!, hash: match[3]! };
}

export class Users {
  readonly #log: DefinitionsLog;
  readonly #verified: VerifiedCache;
  readonly #flights = new SharedFlights<boolean>();
  readonly #derive: PasswordDerive;

  constructor(log: DefinitionsLog, options: UsersOptions = {}) {
    this.#log = log;
    this.#verified = new VerifiedCache(options.verified ?? verifiedCacheDefault);
    this.#derive = options.derive ?? deriveOnLibuv;
  }

  names(): string[] {
    return [...this.#log.state.users.keys()];
  }

  tags(name: string): string[] | undefined {
    const tags = this.#log.state.users.get(name)?.tags;
    return tags === undefined ? undefined : [...tags];
  }

  get(name: string): UserView | undefined {
    const user = this.#log.state.users.get(name);
    return user === undefined ? undefined : { name, tags: [...user.tags], passwordHash: encodeHash(user) };
  }

  /**
   * Creates or replaces a user; `none` leaves it without a password (RabbitMQ's passwordless user). A
   * hash equal to the stored one (a PUT of tags alone) keeps the user's SCRAM credentials; any other
   * hash drops them, as they belong to a password that no longer applies.
   */
  async putUser(name: string, credential: UserCredential, tags: readonly string[]): Promise<void> {
    if ('password' in credential) return this.put(name, credential.password, tags);
    const stored = 'passwordHash' in credential ? decodeHash(credential.passwordHash) : decodeHash('');
    const current = this.#log.state.users.get(name);
    const same = current !== undefined && stored.hash !== '' && encodeHash(current) === encodeHash(stored);
    const scram = same && current.scram !== undefined ? { scram: current.scram } : {};
    await this.#log.commit({ type: 'user.put', name, user: { ...stored, tags: [...tags], ...scram } });
  }

  /** The user's SCRAM credentials (RFC 5802), undefined for an unknown user. */
  scram(name: string): ScramCredentials | undefined {
    const user = this.#log.state.users.get(name);
    return user === undefined ? undefined : (user.scram ?? {});
  }

  /**
   * Sets (null: removes) one SCRAM credential (Kafka's AlterUserScramCredentials). A user that does not
   * exist is created with that credential alone: no password, no tags, as Kafka creates SCRAM users.
   */
  async setScram(name: string, mechanism: ScramMechanism, credential: ScramCredential | null): Promise<void> {
    if (this.#log.state.users.has(name)) {
      await this.#log.commit({ type: 'user.scram', name, mechanism, credential });
      return;
    }
    if (credential === null) throw brokerError(ErrorCode.notFound, `No user '${name}'`);
    const user: StoredUser = { ...decodeHash(''), tags: [], scram: { [mechanism]: credential } };
    await this.#log.commit({ type: 'user.put', name, user });
  }

  async put(name: string, password: string, tags: readonly string[] = []): Promise<void> {
    // `verify` refuses longer passwords (bounded scrypt work per login), so such a user could never log in.
    if (Buffer.byteLength(password) > passwordBytesMax) {
      throw brokerError(
        ErrorCode.invalidArgument,
        `Password of user ${name} is longer than ${passwordBytesMax} bytes`,
      );
    }
    const salt = randomBytes(saltBytes);
    // Never called off (a user's change is not abandoned half way); a signal per call, so no listener
    // a hasher adds to it outlives the call.
    const hash = await this.#derive(
      { password, salt, cost: scryptCost, keyBytes },
      new AbortController().signal,
    );
    const user: StoredUser = {
      salt: salt.toString('base64'),
      hash: Buffer.from(hash).toString('base64'),
      cost: scryptCost,
      tags: [...tags],
      scram: await scramCredentialsOf(password),
    };
    await this.#log.commit({ type: 'user.put', name, user });
  }

  async delete(name: string): Promise<void> {
    if (this.#log.state.users.has(name)) await this.#log.commit({ type: 'user.delete', name });
    // A user gone already may be another request's deletion, still being written.
    else await this.#log.settled();
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
    if (user !== undefined && user.hash !== '' && this.#verified.has(key, user.hash))
      return Promise.resolve(true);
    const derive = options.derive ?? this.#derive;
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
    const ok =
      expected.length > 0 && actual.byteLength === expected.length && timingSafeEqual(actual, expected);
    if (ok) {
      this.#verified.add(key, user.hash);
      this.#completeScram(name, password, user);
    }
    return ok;
  }

  /**
   * A password set before SCRAM credentials were kept gets them at its first login since: the login
   * is answered at once and the credentials follow, stored only if the password is still the same.
   */
  #completeScram(name: string, password: string, user: StoredUser): void {
    const missing = scramMechanisms.filter((m) => user.scram?.[m] === undefined);
    if (missing.length === 0) return;
    void scramCredentialsOf(password)
      .then(async (made) => {
        for (const mechanism of missing) {
          if (this.#log.state.users.get(name)?.hash !== user.hash) return;
          await this.#log.commit({ type: 'user.scram', name, mechanism, credential: made[mechanism]! });
        }
      })
      // A write that fails fails the definitions log, which reports it; the next login tries again.
      .catch(() => undefined);
  }

  /** The first start creates `guest`/`guest` (RabbitMQ's default; loopback-only is the adapters' rule). */
  async ensureDefault(): Promise<void> {
    if (this.#log.state.usersSeeded) return;
    if (this.#log.state.users.size === 0) await this.put('guest', 'guest', ['administrator']);
    await this.#log.commit({ type: 'users.seeded' });
  }
}
