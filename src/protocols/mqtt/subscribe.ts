/**
 * SUBSCRIBE and UNSUBSCRIBE (MQTT 5.0 §3.8–3.11). An ordinary subscription binds the session queue
 * to `amq.topic` with the filter's pattern, its options kept as binding arguments; a shared one
 * joins the group's queue (./shared.ts). Retained messages matching a new subscription are queued
 * into the session queue after the SUBACK, honouring Retain Handling (§3.3.1.3).
 */
import { Buffer } from 'node:buffer';
import type { ISubscribePacket, ISubscription, IUnsubscribePacket } from 'mqtt-packet';
import { ErrorCode, isBrokerError } from '../../shared/errors.js';
import { Reason } from './limits.js';
import { entryToArgs, type SubscriptionEntry } from './model.js';
import type { Connection } from './session.js';
import { attachShared, consumeSession, detachShared, forgetShared, saveShared } from './shared.js';
import { filterToPattern, parseShared, topicExchange, topicToKey, validFilter } from './topics.js';
import { ProtocolViolation } from './violation.js';

/** 3.1.1 has one failure code, 0x80 (§3.9.3). */
function failure(conn: Connection, reason: number): number {
  return conn.version === 5 ? reason : 0x80;
}

async function subscribeOne(
  conn: Connection,
  sub: ISubscription,
  subscriptionId: number,
  retainedFor: SubscriptionEntry[],
): Promise<number> {
  const { server } = conn;
  const shared = parseShared(sub.topic);
  if (shared === null) {
    // [MQTT-4.8.2-1] [MQTT-4.8.2-2]: a `$share/` filter needs a share name and a filter after it.
    if (conn.version === 5)
      throw new ProtocolViolation(Reason.protocolError, 'ill-formed shared subscription');
    return failure(conn, Reason.topicFilterInvalid);
  }
  const filter = shared?.filter ?? sub.topic;
  if (!validFilter(filter, server.limits)) return failure(conn, Reason.topicFilterInvalid);
  // Denied filters answer 0x80 on both versions: clients such as Paho's accept only that failure code.
  if (server.denied(sub.topic)) return 0x80;
  if (shared !== undefined && sub.nl === true) {
    throw new ProtocolViolation(Reason.protocolError, 'no local on a shared subscription');
  }
  const previous = conn.subscriptions.get(sub.topic);
  if (previous === undefined && conn.subscriptions.size >= server.limits.subscriptionsMax)
    return failure(conn, Reason.quotaExceeded);
  const entry: SubscriptionEntry = {
    filter,
    qos: sub.qos,
    noLocal: sub.nl === true,
    retainAsPublished: sub.rap === true,
    retainHandling: sub.rh ?? 0,
    id: subscriptionId,
    ...(shared === undefined ? {} : { group: shared.group }),
  };
  conn.subscriptions.set(sub.topic, entry);
  try {
    // Decided on the user's client: read on `amq.topic` and the topic permission for the filter.
    if (shared !== undefined) await saveShared(conn, entry);
    else await conn.session!.subscribe(topicExchange, filterToPattern(filter), entryToArgs(entry));
  } catch (err) {
    if (previous === undefined) conn.subscriptions.delete(sub.topic);
    else conn.subscriptions.set(sub.topic, previous);
    return refusedSubscription(conn, err, sub.topic);
  }
  if (shared !== undefined) {
    attachShared(conn, entry);
    return sub.qos;
  }
  consumeSession(conn);
  if (entry.retainHandling === 0 || (entry.retainHandling === 1 && previous === undefined))
    retainedFor.push(entry);
  return sub.qos;
}

/** A filter the user may not read is refused on its own: 0x87 Not authorized (3.1.1: 0x80). */
function refusedSubscription(conn: Connection, err: unknown, filter: string): number {
  if (!isBrokerError(err, ErrorCode.accessRefused)) throw err;
  conn.server.logger.info({ connection: conn.id, filter, reason: err.message }, 'mqtt subscription refused');
  return failure(conn, Reason.notAuthorized);
}

export async function handleSubscribe(conn: Connection, packet: ISubscribePacket): Promise<void> {
  const subscriptionId = packet.properties?.subscriptionIdentifier ?? 0;
  const granted: number[] = [];
  const retainedFor: SubscriptionEntry[] = [];
  for (const sub of packet.subscriptions)
    granted.push(await subscribeOne(conn, sub, subscriptionId, retainedFor));
  conn.send({ cmd: 'suback', messageId: packet.messageId!, granted });
  for (const entry of retainedFor) queueRetained(conn, entry);
}

function queueRetained(conn: Connection, entry: SubscriptionEntry): void {
  const { server } = conn;
  const queue = conn.session!.queue;
  for (const message of server.retained.match(entry.filter)) {
    const replay = { routingKey: topicToKey(message.topic), subscription: entry.filter };
    const body = Buffer.from(message.body);
    conn.plumbing.publish('', queue, { body, properties: { ...message.properties, retain: true, replay } });
  }
}

export async function handleUnsubscribe(conn: Connection, packet: IUnsubscribePacket): Promise<void> {
  const granted: number[] = [];
  for (const full of packet.unsubscriptions) {
    const entry = conn.subscriptions.get(full);
    if (entry === undefined) {
      granted.push(Reason.noSubscriptionExisted);
      continue;
    }
    conn.subscriptions.delete(full);
    if (entry.group !== undefined) {
      detachShared(conn, full);
      await forgetShared(conn, entry);
    } else {
      await conn.session!.unsubscribe(topicExchange, filterToPattern(entry.filter));
    }
    granted.push(Reason.success);
  }
  conn.send({ cmd: 'unsuback', messageId: packet.messageId!, granted });
}
