/**
 * Who is asking. Every command enters core with a caller context: the principal (the logged-in user),
 * the vhost it works in, its connection, the protocol that carried it and the peer's address. It is
 * what authorization decides on, what per-connection cleanup keys on, and what a cluster node would
 * forward with a command.
 */

/** The front ends a command can come from; `internal` is core's own work (dead letters, expiry). */
export const protocols = ['amqp', 'mqtt', 'kafka', 'kubemq', 'http', 'internal'] as const;
export type Protocol = (typeof protocols)[number];

export interface Principal {
  /** The user name as logged in; `''` for core's internal principal only. */
  readonly user: string;
  /** The user's tags when it logged in (`administrator`, `management`, …). */
  readonly tags: readonly string[];
  /** The client's own id where its protocol has one (MQTT): `{client_id}` in topic permissions. */
  readonly clientId?: string;
  /**
   * Permissions the principal brings with it (a bearer token's scopes) instead of the stored ones of
   * its user; authorization then decides on these, and on `tags`, alone.
   */
  readonly carried?: CarriedPermissions;
}

/** Patterns as a stored permission has them (src/core/permissions.ts): '' allows nothing. */
export interface PermissionPatterns {
  readonly configure: string;
  readonly write: string;
  readonly read: string;
}

export interface TopicPatterns {
  readonly write: string;
  readonly read: string;
}

/**
 * Topic access as a bearer token's scope grants it (RabbitMQ's OAuth 2.0 backend): on a topic exchange
 * whose name matches `exchange`, routing keys matching `routingKey` (both regular expressions) may be
 * written or read.
 */
export interface ScopedTopic {
  readonly permission: 'write' | 'read';
  readonly exchange: string;
  readonly routingKey: string;
}

/** Permissions that come with a principal rather than from the user store. */
export interface CarriedPermissions {
  /**
   * Moves on when what the principal carries changes (a refreshed token): grants compiled before are
   * compiled again. Absent: never changes.
   */
  readonly generation?: number;
  /** Tags that stand for the principal's own when present (a refreshed token may change them). */
  readonly tags?: readonly string[];
  /** Its permission in `vhost`; undefined: no access to that vhost. */
  permission(vhost: string): PermissionPatterns | undefined;
  /** Its topic permissions in `vhost`, by exchange (RabbitMQ's rule: an exchange without one restricts nothing). */
  topicPermissions(vhost: string): ReadonlyMap<string, TopicPatterns> | undefined;
  /**
   * Topic access decided by a list instead (a token's scopes): when present, a routing key on a topic
   * exchange is allowed only if an entry of its permission matches exchange and key; no entry, no access.
   */
  scopedTopics?(vhost: string): readonly ScopedTopic[];
}

export interface CallerContext {
  readonly principal: Principal;
  /** The vhost every command of this caller addresses. */
  readonly vhost: string;
  /**
   * Unique among live connections; never contains `/` (owners are `<connectionId>/<channel>`).
   * Exclusive queues belong to it and go with it.
   */
  readonly connectionId: string;
  readonly protocol: Protocol;
  /** The peer's address as the socket reports it; `''` when there is none (embedding, internal). */
  readonly peerAddress: string;
}

/**
 * Core acting on its own behalf: the principal of housekeeping (session expiry, retained sweeps),
 * of the embedding API and of a front end's own plumbing. Authorization lets this one object (not a
 * copy of it) do everything.
 */
export const internalPrincipal: Principal = Object.freeze({
  user: '',
  tags: Object.freeze(['administrator']),
});

export function internalContext(vhost: string, connectionId = 'core'): CallerContext {
  return { principal: internalPrincipal, vhost, connectionId, protocol: 'internal', peerAddress: '' };
}

/** The same caller addressing another vhost (the admin API serves every vhost on one connection). */
export function inVhost(ctx: CallerContext, vhost: string): CallerContext {
  return ctx.vhost === vhost ? ctx : { ...ctx, vhost };
}
