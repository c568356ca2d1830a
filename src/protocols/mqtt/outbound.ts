/**
 * Core deliveries → PUBLISH, and the client's PUBACK / PUBREC / PUBCOMP (MQTT 5.0 §3.3–3.7, §4.3).
 * A session queue gets each message once however many of the session's subscriptions match, so
 * the matching subscriptions are worked out here: the copy carries the highest granted QoS and every
 * Subscription Identifier (§3.3.4). QoS 0 copies are acked in core as soon as they are written;
 * QoS 1/2 copies stay unacked in core until the client acknowledges them.
 */
import { Buffer } from 'node:buffer';
import mqttPacket, {
  type IPubackPacket,
  type IPubcompPacket,
  type IPublishPacket,
  type IPubrecPacket,
  type QoS,
} from 'mqtt-packet';
import type { Delivery } from '../../core/types.js';
import type { Connection } from './connection.js';
import type { SubscriptionEntry } from './model.js';
import { Header, publishedQos, remainingExpirySec, toMqtt } from './properties.js';
import { pubrelOwed } from './resume.js';
import { matching } from './server.js';
import { keyToTopic } from './topics.js';

const packetIdMax = 65_535;

function allocatePacketId(conn: Connection): number {
  for (let tries = 0; tries < packetIdMax; tries++) {
    const id = conn.nextPacketId;
    conn.nextPacketId = (id % packetIdMax) + 1;
    if (!conn.outbound.has(id) && !conn.reserved.has(id)) return id;
  }
  throw new Error('no free packet id');
}

function subscriptionsFor(
  conn: Connection,
  delivery: Delivery,
  topic: string,
  sharedKey?: string,
): SubscriptionEntry[] {
  const headers = delivery.message.properties.headers ?? {};
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

function drop(conn: Connection, delivery: Delivery): void {
  conn.server.vhost.ack(delivery.queue, delivery.id);
}

export function deliver(conn: Connection, delivery: Delivery, sharedKey?: string): void {
  if (conn.state !== 'connected') {
    conn.server.vhost.nack(delivery.queue, delivery.id, true);
    return;
  }
  const { message } = delivery;
  const headers = message.properties.headers ?? {};
  const named = headers[Header.topic];
  const topic = typeof named === 'string' ? named : keyToTopic(message.routingKey);
  const entries = subscriptionsFor(conn, delivery, topic, sharedKey);
  if (entries.length === 0) {
    drop(conn, delivery);
    return;
  }
  const nowMs = Date.now();
  const expirySec = remainingExpirySec(message.properties, nowMs);
  if (expirySec !== undefined && expirySec <= 0) {
    drop(conn, delivery);
    return;
  }
  const granted = Math.max(...entries.map((e) => e.qos));
  const qos = Math.min(publishedQos(message.properties), granted) as QoS;
  const onSubscribe = typeof headers[Header.subscription] === 'string';
  const retain = onSubscribe || (headers[Header.retain] === true && entries.some((e) => e.retainAsPublished));
  const payload = Buffer.from(message.body.buffer, message.body.byteOffset, message.body.byteLength);
  const packet: IPublishPacket = { cmd: 'publish', topic, payload, qos, retain, dup: false };
  if (conn.version === 5) packet.properties = v5Properties(message.properties, entries, nowMs);
  if (qos > 0) {
    const resent = conn.resend.get(delivery.id);
    packet.messageId = resent ?? allocatePacketId(conn);
    packet.dup = resent !== undefined;
  }
  const bytes = encode(conn, packet);
  if (bytes === undefined) {
    drop(conn, delivery);
    return;
  }
  conn.transport.write(bytes);
  conn.server.stats.sent++;
  if (qos === 0) {
    ackSent(conn, delivery);
    return;
  }
  track(conn, delivery, packet.messageId!, sharedKey === undefined);
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
  const bytes = mqttPacket.generate(packet, { protocolVersion: conn.version });
  // §3.1.2.25: a message larger than the client's Maximum Packet Size is discarded, not sent.
  if (bytes.length > conn.clientPacketBytesMax) return undefined;
  return bytes;
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
  conn.server.vhost.ack(delivery.queue, delivery.id);
}

function track(conn: Connection, delivery: Delivery, packetId: number, stored: boolean): void {
  conn.resend.delete(delivery.id);
  conn.reserved.delete(packetId);
  conn.outbound.set(packetId, { queue: delivery.queue, deliveryId: delivery.id, stage: 'publish', stored });
  if (stored) persist(conn, conn.session!.setInflight(packetId, delivery.id));
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
  conn.server.vhost.ack(entry.queue, entry.deliveryId);
  finish(conn, packet.messageId!);
  return undefined;
}

export function handlePubrec(conn: Connection, packet: IPubrecPacket): undefined {
  const packetId = packet.messageId!;
  const entry = conn.outbound.get(packetId);
  if (entry === undefined || entry.stage !== 'publish') {
    if (entry === undefined) conn.send({ cmd: 'pubrel', messageId: packetId, reasonCode: 0x92 });
    return undefined;
  }
  conn.server.vhost.ack(entry.queue, entry.deliveryId);
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
