/**
 * Shared subscriptions (MQTT 5.0 §4.8.2): every `$share/<group>/<filter>` is one core queue bound to
 * `amq.topic`, consumed by all the group's members. A message goes to one member; when a member
 * leaves, the messages it held unacknowledged return to the queue and go to the others.
 * The queue is auto-deleted with its last member. Durable sessions remember their shared
 * subscriptions under `mqtt.shared/<vhost>/<client id>`.
 */
import type { Consumer } from '../../core/types.js';
import type { Connection } from './connection.js';
import { Reason } from './limits.js';
import { entryFromArgs, entryToArgs, fullFilter, type SubscriptionEntry } from './model.js';
import { deliver, offer } from './outbound.js';
import type { MqttServer } from './server.js';
import { filterToPattern, sharedQueueName, topicExchange } from './topics.js';

function key(server: MqttServer, clientId: string): string {
  return `mqtt.shared/${encodeURIComponent(server.vhostName)}/${encodeURIComponent(clientId)}`;
}

/** Unacked deliveries a client may hold, per consumer and (through `conn.credit`) over them all. */
export function consumeWindow(conn: Connection): number {
  return Math.max(1, Math.min(conn.server.limits.inflightMax, conn.clientReceiveMax));
}

/**
 * Consumes `queue` for the connection: the session queue (`sharedKey` undefined) or a share group's
 * queue, each under the one Receive Maximum of the client [MQTT-3.3.4-9].
 */
export function consumeFor(conn: Connection, queue: string, tag: string, sharedKey?: string): Consumer {
  return conn.core.consume(queue, {
    tag,
    owner: conn.owner,
    prefetch: consumeWindow(conn),
    limits: [conn.credit],
    deliver: (delivery) => deliver(conn, delivery, sharedKey),
    offer: (message) => offer(conn, message, sharedKey),
    // The queue failed or went away under a live client: it cannot be served, so it is told to go
    // and come back (0x80, unspecified error); its session resumes from what is stored.
    cancelled: (reason) => conn.fail(Reason.unspecified, reason),
  });
}

export function attachShared(conn: Connection, entry: SubscriptionEntry): void {
  const vhost = conn.core;
  const full = fullFilter(entry);
  if (conn.sharedConsumers.has(full)) return;
  const queue = sharedQueueName(entry.group!, entry.filter);
  vhost.declareQueue(queue, { durable: false, autoDelete: true });
  vhost.bindQueue(queue, topicExchange, filterToPattern(entry.filter));
  conn.sharedConsumers.set(full, consumeFor(conn, queue, `${conn.owner}#${full}`, full));
}

export function detachShared(conn: Connection, full: string): void {
  conn.sharedConsumers.get(full)?.cancel();
  conn.sharedConsumers.delete(full);
}

export function loadShared(server: MqttServer, clientId: string): SubscriptionEntry[] {
  const stored = server.core.state.get(key(server, clientId));
  if (!Array.isArray(stored)) return [];
  const out: SubscriptionEntry[] = [];
  for (const item of stored as Array<{ group: string; args: Record<string, never> }>) {
    const entry = entryFromArgs(item.args);
    if (entry !== undefined) out.push({ ...entry, group: item.group });
  }
  return out;
}

export async function saveShared(conn: Connection): Promise<void> {
  if (conn.session?.durable !== true) return;
  const entries = [...conn.subscriptions.values()].filter((e) => e.group !== undefined);
  const value = entries.map((e) => ({ group: e.group, args: entryToArgs(e) }));
  if (value.length === 0) return forgetShared(conn.server, conn.clientId);
  await conn.server.core.state.put(key(conn.server, conn.clientId), value);
}

export async function forgetShared(server: MqttServer, clientId: string): Promise<void> {
  if (server.core.state.get(key(server, clientId)) !== undefined)
    await server.core.state.delete(key(server, clientId));
}
