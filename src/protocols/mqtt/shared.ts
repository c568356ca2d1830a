/**
 * Shared subscriptions (MQTT 5.0 §4.8.2): every `$share/<group>/<filter>` is one core queue bound to
 * `amq.topic`, consumed by all the group's members. A message goes to one member; when a member
 * leaves, the messages it held unacknowledged return to the queue and go to the others.
 * The queue is auto-deleted with its last member. A session remembers its shared subscriptions as
 * core group subscriptions (durably when the session is durable), so they come back on resume.
 */
import type { Consumer, CreditLimit } from '../../core/types.js';
import { sendRoom } from '../send-room.js';
import { Reason } from './limits.js';
import { entryFromArgs, entryToArgs, fullFilter, type SubscriptionEntry } from './model.js';
import { deliver, offer } from './outbound.js';
import type { Connection } from './session.js';
import { filterToPattern, sharedQueueName, topicExchange } from './topics.js';

/** Unacked deliveries a client may hold, per consumer and (through `conn.credit`) over them all. */
export function consumeWindow(conn: Connection): number {
  return Math.max(1, Math.min(conn.server.limits.inflightMax, conn.clientReceiveMax));
}

/** Each connection's room to send, made at its first consumer (most connections never subscribe). */
const sendRooms = new WeakMap<Connection, CreditLimit>();

/** Deliveries stop while the socket holds more than `writeBufferBytesMax` unsent (QoS 1/2 included). */
function sendRoomOf(conn: Connection): CreditLimit {
  let room = sendRooms.get(conn);
  if (room === undefined) {
    const { transport } = conn;
    room = sendRoom(transport, () => transport.bufferedBytes, conn.server.limits.writeBufferBytesMax);
    // Its first listener: reading held for answers goes on before the consumers it wakes fill the
    // socket again. Otherwise they refilled it at every wake, many of them with no drain at all (a
    // write the socket took at once), and the client's packets (UNSUBSCRIBE, DISCONNECT) were never read.
    room.onRoom(() => conn.answersTaken());
    sendRooms.set(conn, room);
  }
  return room;
}

/**
 * Consumes `queue` for the connection: the session queue (`sharedKey` undefined) or a share group's
 * queue, each under the one Receive Maximum of the client [MQTT-3.3.4-9].
 */
export function consumeFor(conn: Connection, queue: string, tag: string, sharedKey?: string): Consumer {
  return conn.plumbing.consume(queue, {
    tag,
    owner: conn.owner,
    prefetch: consumeWindow(conn),
    limits: [conn.credit],
    sendRoom: sendRoomOf(conn),
    deliver: (delivery) => deliver(conn, delivery, sharedKey),
    offer: (message) => offer(conn, message, sharedKey),
    // What the session queue handed back is resent whatever its expiry [MQTT-3.3.2-5]; a group's
    // queue hands it to another member, whose delivery has not started.
    keepsStartedDeliveries: sharedKey === undefined,
    // The queue failed or went away under a live client: it cannot be served, so it is told to go
    // and come back (0x80, unspecified error); its session resumes from what is stored.
    cancelled: (reason) => conn.fail(Reason.unspecified, reason),
  });
}

/**
 * Consumes the session queue once it exists: a session declares it at its first subscription, so a
 * client that never subscribes costs no queue and no consumer. Not after the connection closed (a
 * SUBSCRIBE finishing during a takeover): its core connection is gone, the consumer would outlive it.
 */
export function consumeSession(conn: Connection): void {
  if (conn.sessionConsumer !== undefined || conn.state !== 'connected') return;
  conn.sessionConsumer = consumeFor(conn, conn.session!.queue, conn.owner);
}

/**
 * Consumes the group's queue; the subscription was decided on the user's client (`saveShared`). Not
 * after the connection closed (a SUBSCRIBE whose save finished meanwhile): its teardown has released
 * what it owned, and a consumer made now would be handed messages for a client that is gone.
 */
export function attachShared(conn: Connection, entry: SubscriptionEntry): void {
  const full = fullFilter(entry);
  if (conn.state !== 'connected' || conn.sharedConsumers.has(full)) return;
  const vhost = conn.plumbing;
  const queue = sharedQueueName(entry.group!, entry.filter);
  vhost.declareQueue(queue, { durable: false, autoDelete: true });
  vhost.bindQueue(queue, topicExchange, filterToPattern(entry.filter));
  // The tag names the connection too: while a takeover is under way the connection being replaced
  // still consumes under the same client id until its teardown has run.
  conn.sharedConsumers.set(full, consumeFor(conn, queue, `${conn.owner}#${full}@${conn.id}`, full));
}

export function detachShared(conn: Connection, full: string): void {
  conn.sharedConsumers.get(full)?.cancel();
  conn.sharedConsumers.delete(full);
}

/** The session's shared subscriptions, as recorded in core. */
export function loadShared(conn: Connection): SubscriptionEntry[] {
  const out: SubscriptionEntry[] = [];
  for (const sub of conn.session!.groupSubscriptions()) {
    const entry = entryFromArgs(sub.options);
    if (entry !== undefined) out.push({ ...entry, group: sub.group });
  }
  return out;
}

/** Records a shared subscription in the session (it replaces one of the same group and filter). */
export function saveShared(conn: Connection, entry: SubscriptionEntry): Promise<void> {
  const pattern = filterToPattern(entry.filter);
  return conn.session!.groupSubscribe(entry.group!, topicExchange, pattern, entryToArgs(entry));
}

export async function forgetShared(conn: Connection, entry: SubscriptionEntry): Promise<void> {
  await conn.session!.groupUnsubscribe(entry.group!, topicExchange, filterToPattern(entry.filter));
}
