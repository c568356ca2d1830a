/**
 * Vhost limits (`max-connections`, `max-queues`) and user limits (`max-connections`, `max-channels`),
 * as RabbitMQ names them. A negative value means no limit; 0 allows none. Validation texts are
 * RabbitMQ's; the refusals are `resourceExhausted` errors that each adapter maps onto its protocol
 * (AMQP 530 NOT_ALLOWED, MQTT CONNACK quota exceeded / server unavailable).
 */

import { brokerError, ErrorCode } from '../../shared/errors.js';
import type { ConnectionDescription, LiveConnection } from '../views.js';

export const vhostLimitNames = ['max-connections', 'max-queues'] as const;
export const userLimitNames = ['max-connections', 'max-channels'] as const;
export type VhostLimitName = (typeof vhostLimitNames)[number];
export type UserLimitName = (typeof userLimitNames)[number];

export type VhostLimits = { readonly [K in VhostLimitName]?: number };
export type UserLimits = { readonly [K in UserLimitName]?: number };

/** Checks one limit as a `PUT …/{name}` carries it (`{"value": N}`). */
export function validateLimit(names: readonly string[], name: string, value: unknown): number {
  if (!names.includes(name)) {
    throw brokerError(
      ErrorCode.invalidArgument,
      `Validation failed\n\nUnrecognised terms [{<<"${name}">>,${JSON.stringify(value)}}] in limits\n`,
    );
  }
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw brokerError(
      ErrorCode.invalidArgument,
      `Validation failed\n\n${name} should be a number, actually was ${JSON.stringify(value)}\n`,
    );
  }
  return value;
}

/** True when `count` more would pass `limit` (absent or negative: no limit). */
export function reached(limit: number | undefined, count: number): boolean {
  return limit !== undefined && limit >= 0 && count >= limit;
}

export function vhostConnectionsRefused(vhost: string, user: string, limit: number): Error {
  return brokerError(
    ErrorCode.resourceExhausted,
    `access to vhost '${vhost}' refused for user '${user}': connection limit (${limit}) is reached`,
  );
}

export function userConnectionsRefused(user: string, limit: number): Error {
  return brokerError(
    ErrorCode.resourceExhausted,
    `Connection refused for user '${user}'. User connection limit (${limit}) is reached`,
  );
}

export function userChannelsRefused(user: string, limit: number): Error {
  return brokerError(
    ErrorCode.resourceExhausted,
    `number of channels opened for user '${user}' has reached the maximum allowed user limit of (${limit})`,
  );
}

export function vhostQueuesRefused(queue: string, vhost: string, limit: number): Error {
  return brokerError(
    ErrorCode.preconditionFailed,
    `cannot declare queue '${queue}': queue limit in virtual host '${vhost}' is reached: ${limit}`,
  );
}

/**
 * Live connections per vhost and per user, and channels per user: what the limits are checked
 * against. Only connections that asked to be counted (protocol front ends) are; admin requests are not.
 */
export class ConnectionCounts {
  readonly #connections = new Map<
    string,
    {
      vhost: string;
      user: string;
      protocol: string;
      channels: number;
      description: ConnectionDescription | undefined;
    }
  >();
  readonly #perVhost = new Map<string, number>();
  readonly #perProtocol = new Map<string, number>();
  readonly #perUser = new Map<string, number>();
  readonly #channelsPerUser = new Map<string, number>();

  vhostConnections(vhost: string): number {
    return this.#perVhost.get(vhost) ?? 0;
  }

  userConnections(user: string): number {
    return this.#perUser.get(user) ?? 0;
  }

  userChannels(user: string): number {
    return this.#channelsPerUser.get(user) ?? 0;
  }

  has(connectionId: string): boolean {
    return this.#connections.has(connectionId);
  }

  /** Live connections per protocol that carried them, for /metrics. */
  perProtocol(): Array<[protocol: string, count: number]> {
    return [...this.#perProtocol];
  }

  open(
    connectionId: string,
    vhost: string,
    user: string,
    protocol: string,
    description?: ConnectionDescription,
  ): void {
    if (this.#connections.has(connectionId)) return;
    this.#connections.set(connectionId, { vhost, user, protocol, channels: 0, description });
    bump(this.#perVhost, vhost, 1);
    bump(this.#perProtocol, protocol, 1);
    bump(this.#perUser, user, 1);
  }

  /** The live connections of `vhost` that described themselves (the admin API's listing). */
  live(vhost: string): LiveConnection[] {
    const rows: LiveConnection[] = [];
    for (const [connectionId, c] of this.#connections) {
      if (c.vhost === vhost && c.description !== undefined)
        rows.push({ connectionId, vhost, user: c.user, description: c.description });
    }
    return rows;
  }

  close(connectionId: string): void {
    const connection = this.#connections.get(connectionId);
    if (connection === undefined) return;
    this.#connections.delete(connectionId);
    bump(this.#perVhost, connection.vhost, -1);
    bump(this.#perProtocol, connection.protocol, -1);
    bump(this.#perUser, connection.user, -1);
    bump(this.#channelsPerUser, connection.user, -connection.channels);
  }

  openChannel(connectionId: string, user: string): void {
    const connection = this.#connections.get(connectionId);
    if (connection !== undefined) connection.channels++;
    bump(this.#channelsPerUser, user, 1);
  }

  closeChannel(connectionId: string, user: string): void {
    const connection = this.#connections.get(connectionId);
    if (connection !== undefined) {
      if (connection.channels === 0) return;
      connection.channels--;
    }
    bump(this.#channelsPerUser, user, -1);
  }
}

function bump(counts: Map<string, number>, key: string, by: number): void {
  const next = (counts.get(key) ?? 0) + by;
  if (next <= 0) counts.delete(key);
  else counts.set(key, next);
}
