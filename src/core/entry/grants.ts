/**
 * A user's permissions in one vhost, compiled for checking: regular expressions built once per change
 * of the permission store (./authorize.ts caches them), so a check is a test of a compiled pattern.
 * Each pattern remembers the decisions it made for the first names it was asked about: a publisher
 * asks of the same exchange and routing keys again and again, and a remembered answer is one map
 * lookup where the regular expression would run. A grant lives until the store changes, so what it
 * remembers goes with it.
 * Topic patterns have `{username}` and `{vhost}` filled in here; `{client_id}` too when the principal
 * has a client id, which makes the grant that principal's own.
 */
import { compilePattern, expandVariables } from '../permissions.js';
import type { PermissionPatterns, ScopedTopic, TopicPatterns } from './context.js';

/**
 * Names whose decision one pattern remembers; past them, names are tested and not remembered, so a
 * caller using many names costs no memory and no churn (a grant may be one MQTT connection's own).
 */
export const decisionsPerPatternMax = 64;

/** A compiled permission pattern and the decisions it already made. */
export class Pattern {
  readonly #regex: RegExp;
  #decided: Map<string, boolean> | undefined;
  /** The last name asked about and its answer: a publisher asks of one exchange message after message. */
  #lastName: string | undefined;
  #lastAllowed = false;

  constructor(regex: RegExp) {
    this.#regex = regex;
  }

  test(name: string): boolean {
    if (name === this.#lastName) return this.#lastAllowed;
    const allowed = this.#decide(name);
    this.#lastName = name;
    this.#lastAllowed = allowed;
    return allowed;
  }

  #decide(name: string): boolean {
    const decided = this.#decided;
    const known = decided?.get(name);
    if (known !== undefined) return known;
    const allowed = this.#regex.test(name);
    if (decided === undefined) this.#decided = new Map([[name, allowed]]);
    else if (decided.size < decisionsPerPatternMax) decided.set(name, allowed);
    return allowed;
  }
}

function patternOf(source: string): Pattern | null {
  const regex = compilePattern(source);
  return regex === null ? null : new Pattern(regex);
}

export interface TopicGrant {
  readonly write: Pattern | null;
  readonly read: Pattern | null;
}

/** A token's topic scopes, compiled: pairs of exchange and routing-key patterns per permission. */
export interface ScopedTopicGrant {
  readonly write: ReadonlyArray<readonly [RegExp, RegExp]>;
  readonly read: ReadonlyArray<readonly [RegExp, RegExp]>;
}

export interface Grant {
  readonly user: string;
  readonly vhost: string;
  /** The user has a permission in the vhost, so it may work there (even one of empty patterns). */
  readonly inVhost: boolean;
  /** null: nothing (an empty pattern, or no permission in the vhost). */
  readonly configure: Pattern | null;
  readonly write: Pattern | null;
  readonly read: Pattern | null;
  /** By exchange; an exchange without one restricts no routing key (RabbitMQ's rule). */
  readonly topics: ReadonlyMap<string, TopicGrant> | undefined;
  /** Set for a token's principal: topic access is these scopes' alone (no entry, no access). */
  readonly scopedTopics: ScopedTopicGrant | undefined;
  readonly administrator: boolean;
  /** `monitoring` or `administrator`: may list what every vhost holds. */
  readonly monitoring: boolean;
  /** `policymaker` or `administrator`: may set policies (RabbitMQ's tag). */
  readonly policymaker: boolean;
  /** A topic pattern names `{client_id}`: a principal with a client id needs a grant of its own. */
  readonly perClient: boolean;
}

export interface GrantSource {
  readonly user: string;
  readonly vhost: string;
  readonly tags: readonly string[];
  readonly permission: PermissionPatterns | undefined;
  readonly topics: ReadonlyMap<string, TopicPatterns> | undefined;
  readonly clientId?: string | undefined;
  readonly scopedTopics?: readonly ScopedTopic[] | undefined;
}

function compileTopics(source: GrantSource): ReadonlyMap<string, TopicGrant> | undefined {
  if (source.topics === undefined || source.topics.size === 0) return undefined;
  const values = { username: source.user, vhost: source.vhost, client_id: source.clientId };
  const compile = (pattern: string) => patternOf(expandVariables(pattern, values));
  const out = new Map<string, TopicGrant>();
  for (const [exchange, patterns] of source.topics) {
    out.set(exchange, { write: compile(patterns.write), read: compile(patterns.read) });
  }
  return out;
}

function namesClientId(topics: ReadonlyMap<string, TopicPatterns> | undefined): boolean {
  if (topics === undefined) return false;
  for (const patterns of topics.values()) {
    if (patterns.write.includes('{client_id}') || patterns.read.includes('{client_id}')) return true;
  }
  return false;
}

function compileScopedTopics(scoped: readonly ScopedTopic[] | undefined): ScopedTopicGrant | undefined {
  if (scoped === undefined) return undefined;
  const write: Array<readonly [RegExp, RegExp]> = [];
  const read: Array<readonly [RegExp, RegExp]> = [];
  for (const s of scoped) {
    (s.permission === 'write' ? write : read).push([new RegExp(s.exchange), new RegExp(s.routingKey)]);
  }
  return { write, read };
}

export function compileGrant(source: GrantSource): Grant {
  const { permission, tags } = source;
  const administrator = tags.includes('administrator');
  return {
    user: source.user,
    vhost: source.vhost,
    inVhost: permission !== undefined,
    configure: permission === undefined ? null : patternOf(permission.configure),
    write: permission === undefined ? null : patternOf(permission.write),
    read: permission === undefined ? null : patternOf(permission.read),
    topics: compileTopics(source),
    scopedTopics: compileScopedTopics(source.scopedTopics),
    administrator,
    monitoring: administrator || tags.includes('monitoring'),
    policymaker: administrator || tags.includes('policymaker'),
    perClient: namesClientId(source.topics),
  };
}
