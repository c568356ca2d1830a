/**
 * Core deliveries → PUBLISH, and the client's PUBACK / PUBREC / PUBCOMP (MQTT 5.0 §3.3–3.7, §4.3).
 * A session queue gets each message once however many of the session's subscriptions match, so
 * the matching subscriptions are worked out here: the copy carries the highest granted QoS and every
 * Subscription Identifier (§3.3.4). QoS 0 copies are acked in core as soon as they are written;
 * QoS 1/2 copies stay unacked in core until the client acknowledges them. Messages published at
 * QoS 0 usually skip the queue altogether (`offer`), and one encoding serves all copies of a message
 * that would be encoded alike (docs/performance.md, "MQTT").
 */
import { Buffer } from 'node:buffer';
import mqttPacket, {
  type IPubackPacket,
  type IPubcompPacket,
  type IPublishPacket,
  type IPubrecPacket,
  type QoS,
} from 'mqtt-packet';
import type { Delivery, Headers, Message } from '../../core/types.js';
import type { Connection } from './connection.js';
import { Reason } from './limits.js';
import type { SubscriptionEntry } from './model.js';
import { Header, publishedQos, remainingExpirySec, toMqtt } from './properties.js';
import { pubrelOwed } from './resume.js';
import { matching } from './server.js';
import { keyToTopic } from './topics.js';

/** Packet ids run 1 to 65535 (§2.2.1); 0 is not one [MQTT-2.2.1-3]. */
const packetIdMax = 65_535;

/** The packet id after `id`, wrapping past 65535 to 1. */
export function packetIdAfter(id: number): number {
  return (id % packetIdMax) + 1;
}

function allocatePacketId(conn: Connection): number {
  for (let tries = 0; tries < packetIdMax; tries++) {
    const id = conn.nextPacketId;
    conn.nextPacketId = packetIdAfter(id);
    if (!conn.outbound.has(id) && !conn.reserved.has(id)) return id;
  }
  throw new Error('no free packet id');
}

/** The last message seen and what is worked out once for all its copies (a fan-out sends them in a row). */
const lastMessage: { message: Message | undefined; topic: string; encoded: Map<string, Buffer> } = {
  message: undefined,
  topic: '',
  encoded: new Map(),
};

function remember(message: Message): typeof lastMessage {
  if (lastMessage.message !== message) {
    const named = message.properties.headers?.[Header.topic];
    lastMessage.message = message;
    lastMessage.topic = typeof named === 'string' ? named : keyToTopic(message.routingKey);
    lastMessage.encoded.clear();
  }
  return lastMessage;
}

function subscriptionsFor(
  conn: Connection,
  headers: Headers,
  topic: string,
  sharedKey?: string,
): SubscriptionEntry[] {
  const forSubscription = sharedKey ?? headers[Header.subscription];
  let entries: SubscriptionEntry[];
  if (typeof forSubscription === 'string') {
    const entry = conn.subscriptions.get(forSubscription);
    entries = entry === undefined ? [] : [entry];
  } else {
    entries = matching(conn.subscriptions.values(), topic);
  }
  const publisher = headers[Header.publisher];
  return entries.filter((entry) => !(entry.noLocal && publisher === conn.clientId));
}

/** How one message goes to one connection. */
interface Plan {
  readonly topic: string;
  readonly entries: SubscriptionEntry[];
  readonly qos: QoS;
  readonly retain: boolean;
  /** Only read when the message has an expiry. */
  readonly nowMs: number;
}

/** Undefined when the message is not for this connection (no subscription left, or expired). */
function plan(conn: Connection, message: Message, sharedKey?: string): Plan | undefined {
  const headers = message.properties.headers ?? {};
  const { topic } = remember(message);
  const entries = subscriptionsFor(conn, headers, topic, sharedKey);
  if (entries.length === 0) return undefined;
  const nowMs = message.properties.expirationMs === undefined ? 0 : Date.now();
  const expirySec = remainingExpirySec(message.properties, nowMs);
  if (expirySec !== undefined && expirySec <= 0) return undefined;
  let granted = 0;
  let asPublished = false;
  for (const entry of entries) {
    granted = Math.max(granted, entry.qos);
    asPublished ||= entry.retainAsPublished;
  }
  const qos = Math.min(publishedQos(message.properties), granted) as QoS;
  const onSubscribe = typeof headers[Header.subscription] === 'string';
  const retain = onSubscribe || (headers[Header.retain] === true && asPublished);
  return { topic, entries, qos, retain, nowMs };
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
  if (conn.transport.bufferedBytes() > conn.server.limits.writeBufferBytesMax) return false;
  const how = plan(conn, message, sharedKey);
  // Not for this client (or too large for it): dropped, as the queued path would.
  if (how === undefined) return true;
  const bytes = encodeQos0(conn, message, how);
  if (bytes !== undefined) write(conn, bytes);
  return true;
}

export function deliver(conn: Connection, delivery: Delivery, sharedKey?: string): void {
  if (conn.state !== 'connected') {
    conn.core.nack(delivery.queue, delivery.id, true);
    return;
  }
  const { message } = delivery;
  const how = plan(conn, message, sharedKey);
  if (how === undefined || how.qos === 0) {
    const bytes = how === undefined ? undefined : encodeQos0(conn, message, how);
    if (bytes === undefined) drop(conn, delivery);
    else {
      write(conn, bytes);
      ackSent(conn, delivery);
    }
    return;
  }
  const resent = conn.resend.get(delivery.id);
  const packetId = resent ?? allocatePacketId(conn);
  // DUP whenever it may have been sent before [MQTT-3.3.1-1]: a resend under its old packet id, or a
  // message core hands back redelivered (after a broker restart its old packet id is not known).
  const dup = resent !== undefined || delivery.redelivered;
  const bytes = encodeWithId(conn, message, how, packetId, dup);
  if (bytes === undefined) {
    drop(conn, delivery);
    return;
  }
  write(conn, bytes);
  track(conn, delivery, packetId, sharedKey === undefined, how.qos);
}

/** A v5 PUBLISH as mqtt-packet takes it (3.1 / 3.1.1 clients get `publish311` instead). */
function publishPacket(conn: Connection, message: Message, how: Plan): IPublishPacket {
  const { body } = message;
  const payload = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const packet: IPublishPacket = {
    cmd: 'publish',
    topic: how.topic,
    payload,
    qos: how.qos,
    retain: how.retain,
    dup: false,
  };
  if (conn.version === 5) packet.properties = v5Properties(message.properties, how.entries, how.nowMs);
  return packet;
}

/** §3.1.2.25: a message larger than the client's Maximum Packet Size is discarded, not sent. */
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
  if (conn.version !== 5) {
    return fitting(conn, publish311(how.topic, message.body, how, { packetId, dup }));
  }
  const packet = publishPacket(conn, message, how);
  packet.messageId = packetId;
  packet.dup = dup;
  return encode(conn, packet);
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
  if (!shareable) return encode(conn, publishPacket(conn, message, how));
  const { encoded } = remember(message);
  const key = `${conn.version === 5 ? 5 : 4}${how.retain ? 'r' : ''}`;
  let bytes = encoded.get(key);
  if (bytes === undefined) {
    bytes =
      conn.version === 5
        ? mqttPacket.generate(publishPacket(conn, message, how), { protocolVersion: 5 })
        : publish311(how.topic, message.body, how);
    encoded.set(key, bytes);
  }
  return fitting(conn, bytes);
}

/**
 * MQTT 3.1 / 3.1.1 PUBLISH (§3.3): fixed header with DUP, QoS and RETAIN, remaining length, topic,
 * packet id (QoS 1/2 only), payload. The same bytes on both versions.
 */
function publish311(
  topic: string,
  payload: Uint8Array,
  flags: { readonly qos: QoS; readonly retain: boolean },
  id?: { readonly packetId: number; readonly dup: boolean },
): Buffer {
  const topicBytes = Buffer.byteLength(topic);
  const idBytes = id === undefined ? 0 : 2;
  const remaining = 2 + topicBytes + idBytes + payload.byteLength;
  const lengthBytes = remaining < 0x80 ? 1 : remaining < 0x4000 ? 2 : remaining < 0x20_0000 ? 3 : 4;
  const out = Buffer.allocUnsafe(1 + lengthBytes + remaining);
  out[0] = 0x30 | (id?.dup === true ? 0x08 : 0) | (flags.qos << 1) | (flags.retain ? 1 : 0);
  let at = 1;
  for (let left = remaining; ; ) {
    const digit = left % 0x80;
    left = Math.floor(left / 0x80);
    out[at++] = left > 0 ? digit | 0x80 : digit;
    if (left === 0) break;
  }
  at = out.writeUInt16BE(topicBytes, at);
  at += out.write(topic, at, 'utf8');
  if (id !== undefined) at = out.writeUInt16BE(id.packetId, at);
  out.set(payload, at);
  return out;
}

function v5Properties(
  properties: Delivery['message']['properties'],
  entries: SubscriptionEntry[],
  nowMs: number,
): NonNullable<IPublishPacket['properties']> {
  const out = toMqtt(properties, nowMs);
  const ids = entries.map((e) => e.id).filter((id) => id > 0);
  if (ids.length > 0) out.subscriptionIdentifier = ids.length === 1 ? ids[0]! : ids;
  return out;
}

/** Encodes with an outbound topic alias when the client allows them; undefined when above its size limit. */
function encode(conn: Connection, packet: IPublishPacket): Buffer | undefined {
  if (conn.version === 5 && conn.clientAliasesMax > 0) applyAlias(conn, packet);
  return fitting(conn, mqttPacket.generate(packet, { protocolVersion: conn.version }));
}

function applyAlias(conn: Connection, packet: IPublishPacket): void {
  const known = conn.outboundAliases.get(packet.topic);
  if (known !== undefined) {
    packet.properties = { ...packet.properties, topicAlias: known };
    packet.topic = '';
    return;
  }
  if (conn.outboundAliases.size >= conn.clientAliasesMax) return;
  const alias = conn.outboundAliases.size + 1;
  conn.outboundAliases.set(packet.topic, alias);
  packet.properties = { ...packet.properties, topicAlias: alias };
}

function ackSent(conn: Connection, delivery: Delivery): void {
  if (conn.transport.bufferedBytes() > conn.server.limits.writeBufferBytesMax) {
    // Held until the socket drains, so the consumer's window stops deliveries to a slow client.
    conn.deferredAcks.push([delivery.queue, delivery.id]);
    return;
  }
  conn.core.ack(delivery.queue, delivery.id);
}

function track(conn: Connection, delivery: Delivery, packetId: number, stored: boolean, qos: 1 | 2): void {
  conn.resend.delete(delivery.id);
  conn.reserved.delete(packetId);
  conn.outbound.set(packetId, {
    queue: delivery.queue,
    deliveryId: delivery.id,
    stage: 'publish',
    stored,
    qos,
  });
  if (!stored) return;
  const pending = conn.session!.setInflight(packetId, delivery.id);
  // Only a durable session writes anything; the others need no handler per message.
  if (conn.session!.durable) persist(conn, pending);
}

function persist(conn: Connection, pending: Promise<void>): void {
  pending.catch((err: unknown) =>
    conn.server.logger.warn({ err, connection: conn.id }, 'mqtt in-flight state not stored'),
  );
}

function finish(conn: Connection, packetId: number): void {
  const entry = conn.outbound.get(packetId);
  conn.outbound.delete(packetId);
  if (entry?.stored === true && conn.session !== undefined)
    persist(conn, conn.session.deleteInflight(packetId));
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
  if (entry.stored) persist(conn, conn.session!.setInflight(packetId, pubrelOwed));
  conn.send({ cmd: 'pubrel', messageId: packetId });
  return undefined;
}

export function handlePubcomp(conn: Connection, packet: IPubcompPacket): undefined {
  const entry = conn.outbound.get(packet.messageId!);
  if (entry?.stage === 'pubrel') finish(conn, packet.messageId!);
  return undefined;
}
