/**
 * A user's permissions in one vhost, compiled for checking: regular expressions built once per change
 * of the permission store (./authorize.ts caches them), so a check is a test of a compiled pattern.
 * Topic patterns have `{username}` and `{vhost}` filled in here; `{client_id}` too when the principal
 * has a client id, which makes the grant that principal's own.
 */
import { compilePattern, expandVariables } from '../permissions.js';
import type { PermissionPatterns, ScopedTopic, TopicPatterns } from './context.js';

export interface TopicGrant {
  readonly write: RegExp | null;
  readonly read: RegExp | null;
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
  readonly configure: RegExp | null;
  readonly write: RegExp | null;
  readonly read: RegExp | null;
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
  const compile = (pattern: string) => compilePattern(expandVariables(pattern, values));
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
    configure: permission === undefined ? null : compilePattern(permission.configure),
    write: permission === undefined ? null : compilePattern(permission.write),
    read: permission === undefined ? null : compilePattern(permission.read),
    topics: compileTopics(source),
    scopedTopics: compileScopedTopics(source.scopedTopics),
    administrator,
    monitoring: administrator || tags.includes('monitoring'),
    policymaker: administrator || tags.includes('policymaker'),
    perClient: namesClientId(source.topics),
  };
}
