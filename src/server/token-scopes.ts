/**
 * A bearer token's scopes as permissions, the way RabbitMQ's OAuth 2.0 backend reads them. With the
 * resource server's prefix taken off (./jwt.ts), a scope is one of
 *
 *   configure:<vhost>/<name>      write:<vhost>/<name>[/<routing key>]      read:<vhost>/<name>[/<routing key>]
 *   tag:<tag>
 *
 * Each of `<vhost>`, `<name>` and `<routing key>` is a pattern: `*` matches any run of characters (none
 * too), everything else itself, and `%XX` is the byte XX (`%2F` for `/`, so the vhost `/` is `%2F`;
 * `%2A` for a literal `*`). A scope of other shapes, or with a bad `%` escape, grants nothing. `{vhost}`
 * in a scope stands for the vhost being checked and `{<claim>}` for a string claim of the token (an
 * unknown name stays as written); the values go in literally, so a claim cannot widen a pattern.
 *
 * What the scopes grant (core's authorizer decides on it, src/core/entry/authorize.ts):
 *   - a vhost may be used when some permission scope's vhost pattern matches it;
 *   - configure, write and read on an exchange or queue when a scope of that permission matches the
 *     vhost and the name;
 *   - on a topic exchange, a routing key only when a scope of that permission with a routing-key part
 *     matches exchange and key (RabbitMQ's topic scopes; a two-part scope grants no routing key there),
 *     so MQTT and KubeMQ events, which live on `amq.topic`, need three-part scopes;
 *   - tags as the `tag:` scopes say.
 * Nothing of the user store is consulted: a user of the same name, if any, lends nothing.
 */
import type {
  CarriedPermissions,
  PermissionPatterns,
  ScopedTopic,
  TopicPatterns,
} from '../core/entry/context.js';
import { escapeRegExp } from '../core/permissions.js';

type Permission = 'configure' | 'write' | 'read';

interface Scope {
  readonly permission: Permission;
  /** The three parts as written (after claim variables), `{vhost}` still in them. */
  readonly vhost: string;
  readonly name: string;
  readonly routingKey: string | undefined;
}

/** The scopes of one token, parsed. */
export interface TokenGrants {
  readonly tags: readonly string[];
  readonly scopes: readonly Scope[];
}

const variable = /\{([^{}]*)\}/g;

/** A value put into a pattern literally: the characters patterns give meaning to are escaped. */
function literal(value: string): string {
  return value.replace(/[%*/]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

/** `{claim}` → the claim's string value (literally); `{vhost}` is left for the check. */
function expandClaims(scope: string, claims: Readonly<Record<string, unknown>>): string {
  return scope.replace(variable, (whole, name: string) => {
    if (name === 'vhost') return whole;
    const value = claims[name];
    return typeof value === 'string' ? literal(value) : name;
  });
}

const permissionPrefixes: ReadonlyArray<readonly [string, Permission]> = [
  ['configure:', 'configure'],
  ['write:', 'write'],
  ['read:', 'read'],
];

export function parseScopes(
  scopes: readonly string[],
  claims: Readonly<Record<string, unknown>>,
): TokenGrants {
  const tags: string[] = [];
  const parsed: Scope[] = [];
  for (const scope of scopes) {
    if (scope.startsWith('tag:')) {
      const tag = scope.slice('tag:'.length);
      if (tag !== '' && !tags.includes(tag)) tags.push(tag);
      continue;
    }
    const kind = permissionPrefixes.find(([prefix]) => scope.startsWith(prefix));
    if (kind === undefined) continue;
    const parts = expandClaims(scope.slice(kind[0].length), claims).split('/');
    if (parts.length !== 2 && parts.length !== 3) continue;
    parsed.push({ permission: kind[1], vhost: parts[0]!, name: parts[1]!, routingKey: parts[2] });
  }
  return { tags, scopes: parsed };
}

/** `%XX` decoded; undefined when an escape is not two hex digits. */
function percentDecode(text: string): string | undefined {
  if (!text.includes('%')) return text;
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x25) {
      const hex = text.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return undefined;
      bytes.push(Number.parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(text[i]!, 'utf8'));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/**
 * A wildcard pattern as an anchored regular expression source; undefined when it has a bad escape.
 * `[^]` rather than `.`: names may hold any character, line breaks too.
 */
export function wildcardSource(pattern: string): string | undefined {
  const parts = pattern.split('*').map(percentDecode);
  if (parts.some((p) => p === undefined)) return undefined;
  return `^${(parts as string[]).map(escapeRegExp).join('[^]*')}$`;
}

function matches(pattern: string, value: string): boolean {
  const source = wildcardSource(pattern);
  return source !== undefined && new RegExp(source).test(value);
}

/** `{vhost}` in a scope part, for the vhost being checked (inserted literally). */
function forVhost(part: string, vhost: string): string {
  return part.includes('{vhost}') ? part.replaceAll('{vhost}', literal(vhost)) : part;
}

/** Regular expression sources as one alternation; '' (nothing) when there are none. */
function anyOf(sources: readonly string[]): string {
  if (sources.length === 0) return '';
  return sources.length === 1 ? sources[0]! : sources.map((s) => `(?:${s})`).join('|');
}

/**
 * A token's permissions, carried by its principal. A refreshed token of the same user (AMQP's
 * connection.update-secret) replaces them in place, so the connection's principal — held by core for
 * every command — decides on the new scopes from the next command on.
 */
export class ScopePermissions implements CarriedPermissions {
  #grants: TokenGrants;
  #generation = 1;
  readonly #byVhost = new Map<
    string,
    { permission: PermissionPatterns | undefined; topics: ScopedTopic[] }
  >();

  constructor(grants: TokenGrants) {
    this.#grants = grants;
  }

  get generation(): number {
    return this.#generation;
  }

  get tags(): readonly string[] {
    return this.#grants.tags;
  }

  /** Takes `next`'s scopes and tags (a refreshed token). */
  renew(next: ScopePermissions): void {
    this.#grants = next.#grants;
    this.#byVhost.clear();
    this.#generation++;
  }

  permission(vhost: string): PermissionPatterns | undefined {
    return this.#of(vhost).permission;
  }

  topicPermissions(): ReadonlyMap<string, TopicPatterns> | undefined {
    return undefined;
  }

  scopedTopics(vhost: string): readonly ScopedTopic[] {
    return this.#of(vhost).topics;
  }

  #of(vhost: string): { permission: PermissionPatterns | undefined; topics: ScopedTopic[] } {
    let entry = this.#byVhost.get(vhost);
    if (entry === undefined) {
      entry = this.#compile(vhost);
      // One connection works in one vhost; the admin API may visit a few.
      if (this.#byVhost.size >= 64) this.#byVhost.clear();
      this.#byVhost.set(vhost, entry);
    }
    return entry;
  }

  #compile(vhost: string): { permission: PermissionPatterns | undefined; topics: ScopedTopic[] } {
    const names: Record<Permission, string[]> = { configure: [], write: [], read: [] };
    const topics: ScopedTopic[] = [];
    let inVhost = false;
    for (const scope of this.#grants.scopes) {
      if (!matches(forVhost(scope.vhost, vhost), vhost)) continue;
      inVhost = true;
      const name = wildcardSource(forVhost(scope.name, vhost));
      if (name === undefined) continue;
      names[scope.permission].push(name);
      if (scope.routingKey === undefined || scope.permission === 'configure') continue;
      const key = wildcardSource(forVhost(scope.routingKey, vhost));
      if (key !== undefined) topics.push({ permission: scope.permission, exchange: name, routingKey: key });
    }
    if (!inVhost) return { permission: undefined, topics };
    return {
      permission: { configure: anyOf(names.configure), write: anyOf(names.write), read: anyOf(names.read) },
      topics,
    };
  }
}
