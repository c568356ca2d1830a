/**
 * Who may do what: per-vhost permissions and topic permissions of users, kept as entries of the
 * definitions log (./state/defs-entries.ts) with RabbitMQ's meaning. A permission is three regular
 * expressions (configure, write, read) over the names of exchanges and queues of one vhost; a topic
 * permission two (write, read) over the routing keys of one exchange. Decisions are made by
 * ./entry/authorize.ts, which compiles these once per change (`generation`).
 */
import { Buffer } from 'node:buffer';
import { brokerError, ErrorCode } from '../shared/errors.js';
import type { DefinitionsEntry, DefinitionsState } from './state/defs-entries.js';
import type {
  PermissionFilter,
  PermissionRow,
  StoredPermission,
  StoredTopicPermission,
  TopicPermissionRow,
} from './views.js';

export type { StoredPermission, StoredTopicPermission };

/** Longest pattern accepted, in UTF-8 bytes. */
export const patternBytesMax = 4096;

/** The variables a topic permission may name; each is replaced by the caller's value, escaped. */
export const topicVariables = ['username', 'vhost', 'client_id'] as const;
export type TopicVariable = (typeof topicVariables)[number];

/** What RabbitMQ grants `guest` on `/` of a fresh broker, and a vhost's creator on it. */
export const fullPermission: StoredPermission = { configure: '.*', write: '.*', read: '.*' };

/** The definitions log as the user and permission stores use it (./definitions.ts). */
export interface DefinitionsLog {
  readonly state: DefinitionsState;
  commit(entry: DefinitionsEntry): Promise<void>;
  settled(): Promise<void>;
}

const escapeSpecials = /[\\^$.*+?()[\]{}|/-]/g;

/** `value` as a regular expression that matches exactly it. */
export function escapeRegExp(value: string): string {
  return value.replace(escapeSpecials, '\\$&');
}

/**
 * A pattern with `{username}`, `{vhost}`, `{client_id}` replaced by the values given, escaped so a
 * value can never widen the pattern; a variable without a value makes its pattern match nothing.
 */
export function expandVariables(
  pattern: string,
  values: { readonly [K in TopicVariable]?: string | undefined },
): string {
  if (!pattern.includes('{')) return pattern;
  let out = pattern;
  for (const name of topicVariables) {
    const value = values[name];
    out = out.replaceAll(`{${name}}`, value === undefined ? '(?!)' : escapeRegExp(value));
  }
  return out;
}

/** A pattern as RabbitMQ runs it: searched anywhere in the name; '' allows nothing (null). */
export function compilePattern(pattern: string): RegExp | null {
  return pattern === '' ? null : new RegExp(pattern);
}

/** Refuses a pattern that is too long or is not a regular expression (its variables filled in). */
export function checkPattern(what: string, pattern: string): void {
  if (Buffer.byteLength(pattern) > patternBytesMax) {
    throw brokerError(
      ErrorCode.invalidArgument,
      `The ${what} pattern is longer than ${patternBytesMax} bytes`,
    );
  }
  try {
    compilePattern(expandVariables(pattern, { username: 'u', vhost: 'v', client_id: 'c' }));
  } catch (err) {
    throw brokerError(
      ErrorCode.invalidArgument,
      `The ${what} pattern '${pattern}' is not a regular expression`,
      err,
    );
  }
}

export class Permissions {
  readonly #log: DefinitionsLog;

  constructor(log: DefinitionsLog) {
    this.#log = log;
  }

  of(vhost: string, user: string): StoredPermission | undefined {
    return this.#log.state.permissions.get(vhost)?.get(user);
  }

  /** The user's topic permissions in `vhost`, by exchange; undefined when it has none. */
  topicsOf(vhost: string, user: string): ReadonlyMap<string, StoredTopicPermission> | undefined {
    return this.#log.state.topicPermissions.get(vhost)?.get(user);
  }

  /** Vhosts where the user has a permission (which is what lets it connect there). */
  vhostsOf(user: string): string[] {
    const out: string[] = [];
    for (const [vhost, users] of this.#log.state.permissions) if (users.has(user)) out.push(vhost);
    return out;
  }

  list(filter: PermissionFilter = {}): PermissionRow[] {
    const out: PermissionRow[] = [];
    for (const [vhost, users] of this.#log.state.permissions) {
      if (filter.vhost !== undefined && filter.vhost !== vhost) continue;
      for (const [user, permission] of users) {
        if (filter.user === undefined || filter.user === user) out.push({ vhost, user, ...permission });
      }
    }
    return out;
  }

  listTopics(filter: PermissionFilter = {}): TopicPermissionRow[] {
    const out: TopicPermissionRow[] = [];
    for (const [vhost, users] of this.#log.state.topicPermissions) {
      if (filter.vhost !== undefined && filter.vhost !== vhost) continue;
      for (const [user, exchanges] of users) {
        if (filter.user !== undefined && filter.user !== user) continue;
        for (const [exchange, permission] of exchanges) out.push({ vhost, user, exchange, ...permission });
      }
    }
    return out;
  }

  async put(vhost: string, user: string, permission: StoredPermission): Promise<void> {
    this.#checkExists(vhost, user);
    checkPattern('configure', permission.configure);
    checkPattern('write', permission.write);
    checkPattern('read', permission.read);
    const { configure, write, read } = permission;
    await this.#log.commit({ type: 'permission.put', vhost, user, permission: { configure, write, read } });
  }

  async delete(vhost: string, user: string): Promise<void> {
    // Already gone, perhaps by a deletion still being written: answered once that is stored too.
    if (this.of(vhost, user) === undefined) return this.#log.settled();
    await this.#log.commit({ type: 'permission.delete', vhost, user });
  }

  async putTopic(
    vhost: string,
    user: string,
    exchange: string,
    permission: StoredTopicPermission,
  ): Promise<void> {
    this.#checkExists(vhost, user);
    checkPattern('topic write', permission.write);
    checkPattern('topic read', permission.read);
    const { write, read } = permission;
    const entry = {
      type: 'topicPermission.put',
      vhost,
      user,
      exchange,
      permission: { write, read },
    } as const;
    await this.#log.commit(entry);
  }

  /** Clears the user's topic permission on `exchange`, or on every exchange when none is named. */
  async deleteTopic(vhost: string, user: string, exchange?: string): Promise<void> {
    const exchanges = this.topicsOf(vhost, user);
    const all = exchange === undefined ? [...(exchanges?.keys() ?? [])] : [exchange];
    const names = all.filter((name) => exchanges?.has(name) === true);
    for (const name of names) {
      await this.#log.commit({ type: 'topicPermission.delete', vhost, user, exchange: name });
    }
    // Nothing left to delete may still be a deletion being written.
    await this.#log.settled();
  }

  /**
   * Once per data folder, when permissions first exist: a fresh folder gives `guest` full permissions
   * on `/`, as RabbitMQ does; a folder from before permissions gives every user full permissions on
   * every vhost, so nobody loses what they could do.
   */
  async seed(fresh: boolean): Promise<void> {
    const { state } = this.#log;
    if (state.permissionsSeeded) return;
    const vhosts = fresh ? ['/'] : [...state.vhosts.keys()];
    const users = fresh ? ['guest'] : [...state.users.keys()];
    for (const vhost of vhosts) {
      for (const user of users) {
        if (!state.vhosts.has(vhost) || !state.users.has(user)) continue;
        await this.#log.commit({ type: 'permission.put', vhost, user, permission: fullPermission });
      }
    }
    await this.#log.commit({ type: 'permissions.seeded' });
  }

  #checkExists(vhost: string, user: string): void {
    if (!this.#log.state.vhosts.has(vhost)) throw brokerError(ErrorCode.notFound, `No vhost '${vhost}'`);
    if (!this.#log.state.users.has(user)) throw brokerError(ErrorCode.notFound, `No user '${user}'`);
  }
}
