/**
 * Core deliveries → PUBLISH, and the client's PUBACK / PUBREC / PUBCOMP (MQTT 5.0 §3.3–3.7, §4.3).
 * A session queue gets each message once however many of the session's subscriptions match, so
 * the matching subscriptions are worked out here: the copy carries the highest granted QoS and every
 * Subscription Identifier (§3.3.4). QoS 0 copies are acked in core as soon as they are written;
 * QoS 1/2 copies stay unacked in core until the client acknowledges them. Messages published at
 * QoS 0 usually skip the queue altogether (`offer`), and one encoding serves all copies of a message
 * that would be encoded alike (docs/performance.md, "MQTT").
 */
import type { Buffer } from 'node:buffer';
import type { IPubackPacket, IPubcompPacket, IPubrecPacket } from 'mqtt-packet';
import type { Delivery, Message, MessageProperties } from '../../core/types.js';
import type { Properties } from './codec/properties.js';
import { encodePublish, type OutgoingPublish, type QoS } from './codec/publish.js';
import { Reason } from './limits.js';
import {
  derivedPacketId,
  pubrelOwed,
  qos1Marker,
  releasedMarker,
  type SubscriptionEntry,
  sentMarker,
  sentOffset,
} from './model.js';
import { publishedQos, remainingExpirySec, toMqtt } from './properties.js';
import type { Connection, OutboundEntry } from './session.js';
import { keyToTopic } from './topics.js';

/** Packet ids run 1 to 65535 (§2.2.1); 0 is not one [MQTT-2.2.1-3]. */
export const packetIdMax = 65_535;

/** The packet id after `id`, wrapping past 65535 to 1. */
export function packetIdAfter(id: number): number {
  return (id % packetIdMax) + 1;
}

/** The packet id before `id`, wrapping below 1 to 65535. */
function packetIdBefore(id: number): number {
  return id === 1 ? packetIdMax : id - 1;
}

/**
 * Put in a connection's `outbound` map with its first entry, under a key no packet id has, so that
 * the map never empties again: V8 gives a map a new table whenever a delete empties it, which for a
 * subscriber that keeps up (one message out, its PUBACK in) was a table per message.
 */
const outboundSentinelId = -1;
const outboundSentinel: OutboundEntry = Object.freeze({
  queue: '',
  deliveryId: 0,
  stage: 'publish',
  stored: false,
  recorded: 0,
});

function isFree(conn: Connection, id: number): boolean {
  return !conn.outbound.has(id) && !conn.reserved.has(id);
}

/**
 * The connection's counter. A durable session's counts down from 65535 (`resume.ts` sets it): its
 * queue's copies take derived ids that count up, and two numberings running the same way would meet
 * and stay together (a shared subscription's message taking each derived id just before it is
 * wanted, a stored marker per message); running opposite ways they cross once per lap.
 */
function allocatePacketId(conn: Connection): number {
  const down = conn.session?.durable === true;
  for (let tries = 0; tries < packetIdMax; tries++) {
    const id = conn.nextPacketId;
    conn.nextPacketId = down ? packetIdBefore(id) : packetIdAfter(id);
    if (isFree(conn, id)) return id;
  }
  throw new Error('no free packet id');
}

/**
 * A new packet id for a copy: a durable session's stored message takes the id its offset gives
 * (`derivedPacketId`) when that is free, so a restart that hands the message back finds the same id
 * again without anything stored; any other copy, or one whose derived id is taken, the next free one.
 */
function newPacketId(conn: Connection, delivery: Delivery, stored: boolean): number {
  const { storedAt } = delivery;
  if (stored && storedAt !== undefined && conn.session!.durable) {
    const derived = derivedPacketId(storedAt);
    if (isFree(conn, derived)) return derived;
  }
  return allocatePacketId(conn);
}

/**
 * The last message seen and what is worked out once for all its copies (a fan-out sends them in a row):
 * its topic, and its shareable QoS 0 encodings by slot (`encodingSlot`).
 */
const lastMessage: { message: Message | undefined; topic: string; encoded: Array<Buffer | undefined> } = {
  message: undefined,
  topic: '',
  encoded: [undefined, undefined, undefined, undefined],
};

function remember(message: Message): typeof lastMessage {
  if (lastMessage.message !== message) {
    // A retained copy is addressed to the session queue; its topic is the key it was published with.
    const key = message.properties.replay?.routingKey ?? message.routingKey;
    lastMessage.message = message;
    lastMessage.topic = keyToTopic(key);
    lastMessage.encoded.fill(undefined);
  }
  return lastMessage;
}

/** 3.1 and 3.1.1 PUBLISH bytes are the same; v5 differs by its property block; RETAIN by one bit. */
function encodingSlot(version: number, retain: boolean): number {
  return (version === 5 ? 2 : 0) + (retain ? 1 : 0);
}

function subscriptionsFor(
  conn: Connection,
  properties: MessageProperties,
  topic: string,
  sharedKey?: string,
): readonly SubscriptionEntry[] {
  const forSubscription = sharedKey ?? properties.replay?.subscription;
  let entries: readonly SubscriptionEntry[];
  if (forSubscription !== undefined) {
    const entry = conn.subscriptions.get(forSubscription);
    entries = entry === undefined ? [] : [entry];
  } else {
    entries = conn.subscriptions.matching(topic);
  }
  // [MQTT-3.8.3-3]: no local compares the publishing client's id, whatever connection it used.
  const publisher = properties.publisherId;
  if (publisher !== conn.clientId) return entries;
  return entries.filter((entry) => !entry.noLocal);
}

/** How one message goes to one connection. */
interface Plan {
  readonly topic: string;
  readonly entries: readonly SubscriptionEntry[];
  readonly qos: QoS;
  readonly retain: boolean;
  /** Only read when the message has an expiry. */
  readonly nowMs: number;
}

/**
 * Undefined when the message is not for this connection (no subscription left, or expired before its
 * delivery `started`: §3.3.2.3.3 deletes only such a copy [MQTT-3.3.2-5]).
 */
function plan(conn: Connection, message: Message, sharedKey?: string, started = false): Plan | undefined {
  const { properties } = message;
  const { topic } = remember(message);
  const entries = subscriptionsFor(conn, properties, topic, sharedKey);
  if (entries.length === 0) return undefined;
  const nowMs = message.properties.expirationMs === undefined ? 0 : Date.now();
  const expirySec = remainingExpirySec(message.properties, nowMs);
  if (expirySec !== undefined && expirySec <= 0 && !started) return undefined;
  let granted = 0;
  let asPublished = false;
  for (const entry of entries) {
    granted = Math.max(granted, entry.qos);
    asPublished ||= entry.retainAsPublished;
  }
  const qos = Math.min(publishedQos(properties), granted) as QoS;
  // [MQTT-3.3.1-8]-style: a retained copy sent because of a new subscription carries RETAIN 1;
  // otherwise RETAIN is kept only for Retain As Published subscriptions (§3.3.1.3).
  const onSubscribe = properties.replay !== undefined;
  const retain = onSubscribe || (properties.retain === true && asPublished);
  return { topic, entries, qos, retain, nowMs };
}

function stopConsuming(conn: Connection): void {
  conn.sessionConsumer?.cancel();
  conn.sessionConsumer = undefined;
  for (const consumer of conn.sharedConsumers.values()) consumer.cancel();
  conn.sharedConsumers.clear();
}

function write(conn: Connection, bytes: Buffer): void {
  conn.transport.write(bytes);
  conn.server.stats.sent++;
}

function drop(conn: Connection, delivery: Delivery): void {
  conn.core.ack(delivery.queue, delivery.id);
}

/**
 * The session queue's `offer` (core ConsumeOptions): a copy published at QoS 0 goes straight to the
 * socket while the queue has nothing ready, skipping enqueue, dispatch and ack. A socket above
 * `writeBufferBytesMax` declines it, so it queues and the usual slow-client policy applies.
 */
export function offer(conn: Connection, message: Message, sharedKey?: string): boolean {
  if (conn.state !== 'connected' || publishedQos(message.properties) !== 0) return false;
  if (conn.transport.bufferedBytes > conn.server.limits.writeBufferBytesMax) return false;
  const how = plan(conn, message, sharedKey);
  // Not for this client (or too large for it): dropped, as the queued path would.
  if (how === undefined) return true;
  const bytes = encodeQos0(conn, message, how);
  if (bytes !== undefined) write(conn, bytes);
  return true;
}

export function deliver(conn: Connection, delivery: Delivery, sharedKey?: string): void {
  if (conn.state !== 'connected') {
    // A closing connection's consumers stay in core until its teardown runs. Handing the message
    // back alone would make it this consumer's again in the same dispatch, round after round: so the
    // consumers go with it, and the queue keeps the message for the session's next connection.
    conn.core.nack(delivery.queue, delivery.id, true);
    stopConsuming(conn);
    return;
  }
  if (sharedKey === undefined) forgetLostMarkers(conn, delivery);
  if (pubrecedBefore(conn, delivery)) {
    drop(conn, delivery);
    return;
  }
  const { message } = delivery;
  const how = plan(conn, message, sharedKey) ?? planResend(conn, delivery, sharedKey);
  if (how === undefined || how.qos === 0) {
    const bytes = how === undefined ? undefined : encodeQos0(conn, message, how);
    if (bytes === undefined) drop(conn, delivery);
    else {
      write(conn, bytes);
      ackSent(conn, delivery);
    }
    return;
  }
  const stored = sharedKey === undefined;
  const resent = conn.resend.get(delivery.id) ?? resentStored(conn, delivery);
  const packetId = resent ?? newPacketId(conn, delivery, stored);
  const dup =
    resent !== undefined || (delivery.redelivered && mayHaveBeenSent(conn, delivery, stored, how.qos));
  const bytes = encodeWithId(conn, message, how, packetId, dup);
  if (bytes === undefined) {
    drop(conn, delivery);
    return;
  }
  write(conn, bytes);
  track(conn, delivery, packetId, stored, how.qos);
}

/**
 * DUP whenever a copy may have been sent before [MQTT-3.3.1-1]. A redelivered copy not resent under a
 * known id may have been, as core flags every message it hands back, and every one a restart recovers,
 * redelivered. The exception is a durable session's QoS 2 copy recorded by its offset: its sent marker
 * is the stored record of each send, kept until the exchange ends, so a copy that matches none was never
 * sent to this session (a message queued while it was away, recovered by a restart) and goes as a first
 * attempt, DUP 0. Only a crash in the turn of the send, before its marker's write, makes that wrong, and
 * then the copy goes under a new id the client does not hold, with either flag.
 */
function mayHaveBeenSent(conn: Connection, delivery: Delivery, stored: boolean, qos: 1 | 2): boolean {
  return !stored || qos === 1 || delivery.storedAt === undefined || !conn.session!.durable;
}

/**
 * A PUBLISH sent before and resent under its packet id goes whatever its expiry: its delivery started
 * and is completed [MQTT-4.4.0-1], with an expiry interval of at least 1 s (`toMqtt`). Asked only of a
 * copy `plan` declined, so the resend lookups cost nothing per message.
 */
function planResend(conn: Connection, delivery: Delivery, sharedKey?: string): Plan | undefined {
  if (conn.resend.size === 0) return undefined;
  const resent = conn.resend.has(delivery.id) || resentStored(conn, delivery) !== undefined;
  return resent ? plan(conn, delivery.message, sharedKey, true) : undefined;
}

/** The PUBLISH for one copy: v5 properties (and an outbound topic alias) for v5 clients only. */
function outgoing(
  conn: Connection,
  message: Message,
  how: Plan,
  packetId?: number,
  dup?: boolean,
): OutgoingPublish {
  return {
    topic: how.topic,
    payload: message.body,
    qos: how.qos,
    retain: how.retain,
    dup,
    packetId,
    properties: conn.version === 5 ? v5Properties(message.properties, how.entries, how.nowMs) : undefined,
  };
}

/** §3.1.2.25 [MQTT-3.1.2-25]: a message larger than the client's Maximum Packet Size is discarded, not sent. */
function fitting(conn: Connection, bytes: Buffer): Buffer | undefined {
  return bytes.length > conn.clientPacketBytesMax ? undefined : bytes;
}

/** A QoS 1/2 PUBLISH; undefined when above the client's Maximum Packet Size. */
function encodeWithId(
  conn: Connection,
  message: Message,
  how: Plan,
  packetId: number,
  dup: boolean,
): Buffer | undefined {
  return encode(conn, outgoing(conn, message, how, packetId, dup));
}

/**
 * A QoS 0 PUBLISH; the bytes are shared by every copy of the message whose encoding is the same
 * (no topic alias, no subscription identifier, no expiry countdown). Undefined when above the
 * client's Maximum Packet Size.
 */
function encodeQos0(conn: Connection, message: Message, how: Plan): Buffer | undefined {
  const shareable =
    conn.version !== 5 ||
    (conn.clientAliasesMax === 0 &&
      message.properties.expirationMs === undefined &&
      how.entries.every((e) => e.id === 0));
  if (!shareable) return encode(conn, outgoing(conn, message, how));
  const { encoded } = remember(message);
  const slot = encodingSlot(conn.version, how.retain);
  let bytes = encoded[slot];
  if (bytes === undefined) {
    bytes = encodePublish(outgoing(conn, message, how), conn.version);
    encoded[slot] = bytes;
  }
  return fitting(conn, bytes);
}

function v5Properties(
  properties: MessageProperties,
  entries: readonly SubscriptionEntry[],
  nowMs: number,
): Properties {
  const out = toMqtt(properties, nowMs);
  const ids = entries.map((e) => e.id).filter((id) => id > 0);
  // [MQTT-3.3.4-3] [MQTT-3.3.4-4]: one copy carries the identifiers of every matching subscription.
  if (ids.length > 0) out.subscriptionIdentifiers = ids;
  return out;
}

/**
 * Encodes with an outbound topic alias when the client allows them; undefined when above its size
 * limit. An alias is only taken for a packet that is sent: the client learns it from that packet.
 */
function encode(conn: Connection, publish: OutgoingPublish): Buffer | undefined {
  if (conn.version !== 5 || conn.clientAliasesMax === 0)
    return fitting(conn, encodePublish(publish, conn.version));
  const known = conn.outboundAliases.get(publish.topic);
  if (known !== undefined) return fitting(conn, encodePublish(aliased(publish, known, ''), 5));
  if (conn.outboundAliases.size >= conn.clientAliasesMax) return fitting(conn, encodePublish(publish, 5));
  const alias = conn.outboundAliases.size + 1;
  const bytes = fitting(conn, encodePublish(aliased(publish, alias, publish.topic), 5));
  if (bytes !== undefined) conn.outboundAliases.set(publish.topic, alias);
  return bytes;
}

function aliased(publish: OutgoingPublish, alias: number, topic: string): OutgoingPublish {
  return { ...publish, topic, properties: { ...publish.properties, topicAlias: alias } };
}

function ackSent(conn: Connection, delivery: Delivery): void {
  if (conn.transport.bufferedBytes > conn.server.limits.writeBufferBytesMax) {
    // Held until the socket drains, so the consumer's window stops deliveries to a slow client.
    conn.deferAck(delivery.queue, delivery.id);
    return;
  }
  conn.core.ack(delivery.queue, delivery.id);
}

/**
 * A marker names its message by offset, and only once core handed that message to the session:
 * every later hand-back of the same message (a requeue, a restart's recovery) is flagged redelivered.
 * A first delivery at an offset a marker names is therefore another message: the named one was lost
 * with its append (a classic queue delivers before the append is durable, the marker may outlive it),
 * and the new one took its offset. The marker is then settled as when the queue no longer holds its
 * message (`resume.ts`): a sent one becomes PUBREL owed, a released one is forgotten (its PUBREL went).
 * A start settles such markers first (`settleStoredMarker`); this covers a queue still opening then.
 */
function forgetLostMarkers(conn: Connection, delivery: Delivery): void {
  const { storedAt } = delivery;
  if (storedAt === undefined || delivery.redelivered || conn.resend.size === 0) return;
  conn.resend.delete(releasedMarker(storedAt));
  forgetLostQos1Marker(conn, storedAt);
  const packetId = conn.resend.get(sentMarker(storedAt));
  if (packetId === undefined) return;
  conn.resend.delete(sentMarker(storedAt));
  conn.reserved.delete(packetId);
  persist(conn, conn.session!.setInflight(packetId, pubrelOwed));
  owePubrel(conn, packetId);
}

/** As `forgetLostMarkers`, for QoS 1: the id is freed and its marker removed; nothing is owed. */
function forgetLostQos1Marker(conn: Connection, storedAt: number): void {
  const packetId = conn.resend.get(qos1Marker(storedAt));
  if (packetId === undefined) return;
  conn.resend.delete(qos1Marker(storedAt));
  conn.reserved.delete(packetId);
  persist(conn, conn.session!.deleteInflight(packetId));
}

/** Sends PUBREL for a packet id whose message the client has; its PUBCOMP frees the id. */
export function owePubrel(conn: Connection, packetId: number): void {
  const entry: OutboundEntry = {
    queue: conn.session!.queue,
    deliveryId: pubrelOwed,
    stage: 'pubrel',
    stored: true,
    qos: 2,
    recorded: pubrelOwed,
  };
  conn.outbound.set(packetId, entry);
  conn.send({ cmd: 'pubrel', messageId: packetId });
}

/** The packet id a durable session stored for this message before a restart (`sentMarker`, `qos1Marker`). */
function resentStored(conn: Connection, delivery: Delivery): number | undefined {
  const { storedAt } = delivery;
  if (storedAt === undefined || !delivery.redelivered || conn.resend.size === 0) return undefined;
  return conn.resend.get(sentMarker(storedAt)) ?? conn.resend.get(qos1Marker(storedAt));
}

/**
 * The client PUBRECed this message before a restart that lost its ack (`releasedMarker`): it has the
 * message, and its PUBREL went again at CONNECT, so the copy core hands back is dropped, not sent.
 */
function pubrecedBefore(conn: Connection, delivery: Delivery): boolean {
  const { storedAt } = delivery;
  if (storedAt === undefined || !delivery.redelivered || conn.resend.size === 0) return false;
  return conn.resend.delete(releasedMarker(storedAt));
}

/**
 * What the session records of a PUBLISH sent from its queue: the delivery id, kept in memory only, or
 * for a durable session's stored message its place in the queue's log, which is written: always for
 * QoS 2, and for QoS 1 only when it went under an id other than its derived one (a restart derives
 * that one again, so it needs no record).
 */
function inflightValue(conn: Connection, delivery: Delivery, qos: 1 | 2, packetId: number): number {
  const { storedAt } = delivery;
  if (storedAt === undefined || !conn.session!.durable) return delivery.id;
  if (qos === 2) return sentMarker(storedAt);
  return packetId === derivedPacketId(storedAt) ? delivery.id : qos1Marker(storedAt);
}

function track(conn: Connection, delivery: Delivery, packetId: number, stored: boolean, qos: 1 | 2): void {
  conn.resend.delete(delivery.id);
  if (delivery.storedAt !== undefined && conn.resend.size > 0) {
    conn.resend.delete(sentMarker(delivery.storedAt));
    conn.resend.delete(qos1Marker(delivery.storedAt));
  }
  conn.reserved.delete(packetId);
  const { outbound } = conn;
  if (outbound.size === 0) outbound.set(outboundSentinelId, outboundSentinel);
  const recorded = stored ? inflightValue(conn, delivery, qos, packetId) : delivery.id;
  outbound.set(packetId, {
    queue: delivery.queue,
    deliveryId: delivery.id,
    stage: 'publish',
    stored,
    qos,
    recorded,
  });
  if (!stored) return;
  const pending = conn.session!.setInflight(packetId, recorded);
  // Only a durable session writes anything; the others need no handler per message.
  if (conn.session!.durable) persist(conn, pending);
}

/** A marker's write that failed is logged: the exchange goes on from what the connection holds. */
export function persist(conn: Connection, pending: Promise<void>): void {
  pending.catch((err: unknown) =>
    conn.server.logger.warn({ err, connection: conn.id }, 'mqtt in-flight state not stored'),
  );
}

function finish(conn: Connection, packetId: number): void {
  const entry = conn.outbound.get(packetId);
  conn.outbound.delete(packetId);
  const session = conn.session;
  if (entry?.stored !== true || session === undefined) return;
  const pending = session.deleteInflight(packetId);
  // As in `track`: only a durable session writes anything; the others need no handler per message.
  if (session.durable) persist(conn, pending);
}

export function handlePuback(conn: Connection, packet: IPubackPacket): undefined {
  const entry = conn.outbound.get(packet.messageId!);
  if (entry === undefined || entry.stage !== 'publish') return undefined;
  conn.core.ack(entry.queue, entry.deliveryId);
  finish(conn, packet.messageId!);
  return undefined;
}

export function handlePubrec(conn: Connection, packet: IPubrecPacket): undefined {
  const packetId = packet.messageId!;
  const entry = conn.outbound.get(packetId);
  if (entry === undefined) {
    // §4.3.3: a PUBREC with a failure Reason Code ends the exchange, so it gets no PUBREL at all.
    if ((packet.reasonCode ?? 0) < 0x80)
      conn.send({ cmd: 'pubrel', messageId: packetId, reasonCode: Reason.packetIdNotFound });
    return undefined;
  }
  if (entry.stage !== 'publish') return undefined;
  conn.core.ack(entry.queue, entry.deliveryId);
  if ((packet.reasonCode ?? 0) >= 0x80) {
    finish(conn, packetId);
    return undefined;
  }
  entry.stage = 'pubrel';
  if (entry.stored) persist(conn, conn.session!.setInflight(packetId, releasedValue(entry)));
  conn.send({ cmd: 'pubrel', messageId: packetId });
  return undefined;
}

/**
 * The PUBREL-owed marker: naming the message's offset when the PUBLISH was recorded by it, as the
 * delivery's ack and this marker go to two logs and a crash may keep the marker alone (`resume.ts`).
 */
function releasedValue(entry: OutboundEntry): number {
  const offset = sentOffset(entry.recorded);
  return offset === undefined ? pubrelOwed : releasedMarker(offset);
}

export function handlePubcomp(conn: Connection, packet: IPubcompPacket): undefined {
  const entry = conn.outbound.get(packet.messageId!);
  if (entry?.stage === 'pubrel') finish(conn, packet.messageId!);
  return undefined;
}
