/** Shapes shared by the MQTT handlers. */
import type { QoS } from 'mqtt-packet';
import type { Headers } from '../../core/types.js';
import { assert } from '../../shared/assert.js';

/** One subscription of a session (MQTT 5.0 §3.8.3.1 options). */
export interface SubscriptionEntry {
  readonly filter: string;
  readonly qos: QoS;
  readonly noLocal: boolean;
  readonly retainAsPublished: boolean;
  readonly retainHandling: number;
  /** Subscription Identifier (§3.8.2.1.2), 0 when none. */
  readonly id: number;
  /** Set for `$share/<group>/<filter>`; `filter` is then the part after the group. */
  readonly group?: string;
}

/** Binding arguments carry the options so a restored session knows them again. */
export function entryToArgs(entry: SubscriptionEntry): Headers {
  return {
    filter: entry.filter,
    qos: entry.qos,
    nl: entry.noLocal,
    rap: entry.retainAsPublished,
    rh: entry.retainHandling,
    id: entry.id,
  };
}

export function entryFromArgs(args: Headers): SubscriptionEntry | undefined {
  const { filter, qos, nl, rap, rh, id } = args;
  if (typeof filter !== 'string' || (qos !== 0 && qos !== 1 && qos !== 2)) return undefined;
  return {
    filter,
    qos,
    noLocal: nl === true,
    retainAsPublished: rap === true,
    retainHandling: typeof rh === 'number' ? rh : 0,
    id: typeof id === 'number' ? id : 0,
  };
}

/** The subscription key used by a session: the full filter text as the client sent it. */
export function fullFilter(entry: SubscriptionEntry): string {
  return entry.group === undefined ? entry.filter : `$share/${entry.group}/${entry.filter}`;
}

/** In a session's stored in-flight map: a packet id whose message was acked at PUBREC; only its PUBREL is owed. */
export const pubrelOwed = -1;

/**
 * In the same map: a packet id the client used for a QoS 2 PUBLISH that was stored and PUBRECed, whose
 * PUBREL has not come yet (MQTT 5.0 §4.3.3 method A, §4.1 session state). The client's ids and ours
 * are separate numberings, so the client's id is kept under `inboundMarkerKey`, above every packet id.
 */
export const pubrelAwaited = -2;

/**
 * In the same map, for a durable session: a QoS 2 PUBLISH sent under the packet id and not yet PUBRECed,
 * naming its message by `Delivery.storedAt` (which, unlike the delivery id, a restart keeps) so the
 * resend after a restart reuses the id [MQTT-4.4.0-1]. Every value from -3 down to `releasedBase`
 * (excluded) is one of these.
 */
const sentBase = -3;

/**
 * Below the sent markers: a QoS 2 message PUBRECed by the client, its PUBREL owed, still naming the
 * message's offset, so that a restart which finds the message back in the queue (its ack was not yet
 * durable) knows the client has it and does not send it again under a new id. The split leaves each
 * kind 2^51 offsets, more than a queue log appends in decades (`storedOffsetMax`).
 */
const releasedBase = sentBase - 2 ** 51;
const storedOffsetMax = 2 ** 51 - 1;

/**
 * Below the released markers: a QoS 1 PUBLISH sent under a packet id other than its message's
 * `derivedPacketId`, naming the message by its offset. Stored only in that rare case (the derived id was
 * taken when it was sent), so a QoS 1 stream into a durable session still writes nothing per message.
 */
const qos1Base = releasedBase - 2 ** 51;

export function sentMarker(storedAt: number): number {
  assert(storedAt >= 0 && storedAt <= storedOffsetMax, 'stored offset out of the marker range');
  return sentBase - storedAt;
}

export function releasedMarker(storedAt: number): number {
  assert(storedAt >= 0 && storedAt <= storedOffsetMax, 'stored offset out of the marker range');
  return releasedBase - storedAt;
}

/** The offset a sent marker names; undefined for any other value. */
export function sentOffset(marker: number): number | undefined {
  return marker <= sentBase && marker > releasedBase ? sentBase - marker : undefined;
}

/** The offset a released marker names; undefined for any other value. */
export function releasedOffset(marker: number): number | undefined {
  return marker <= releasedBase && marker > qos1Base ? releasedBase - marker : undefined;
}

export function qos1Marker(storedAt: number): number {
  assert(storedAt >= 0 && storedAt <= storedOffsetMax, 'stored offset out of the marker range');
  return qos1Base - storedAt;
}

/** The offset a QoS 1 marker names; undefined for any other value. */
export function qos1Offset(marker: number): number | undefined {
  return marker <= qos1Base ? qos1Base - marker : undefined;
}

/** Packet ids run 1 to 65535 (§2.2.1). */
const packetIdsCount = 65_535;

/**
 * The packet id a message of a durable session's queue is sent under when it is free: one function of
 * the message's offset in the queue's log, which a restart keeps, so the message that comes back after
 * a crash gets the id it was sent under with nothing stored for it [MQTT-4.4.0-1]. Consecutive offsets
 * give consecutive ids, so two messages in flight share one only when their offsets lie a multiple of
 * 65,535 apart; the later one then takes another id and stores it (`qos1Marker`, or QoS 2's sent marker).
 */
export function derivedPacketId(storedAt: number): number {
  return (storedAt % packetIdsCount) + 1;
}

/**
 * Core's `SettleStoredMarker` for MQTT: at a start, a sent or released marker whose message the
 * recovered session queue no longer holds becomes PUBREL owed, naming no offset; such a QoS 1 marker
 * is removed. Sent: the client's
 * PUBREC was processed (the ack is durable, the marker's change was not), or the message was lost with
 * its append; either way PUBREL N frees the id, and the client answers PUBCOMP whether it knows N or not.
 * Released: the PUBREL is still owed, and no later message at that offset is the client's copy.
 */
export function settleStoredMarker(
  marker: number,
  holds: (offset: number) => boolean,
): number | null | undefined {
  const acked = qos1Offset(marker);
  // QoS 1: the PUBACK's ack is durable (or the message was lost with its append); nothing is owed.
  if (acked !== undefined) return holds(acked) ? undefined : null;
  const offset = sentOffset(marker) ?? releasedOffset(marker);
  return offset === undefined || holds(offset) ? undefined : pubrelOwed;
}

/** Packet ids run 1 to 65535 (§2.2.1); the client's ids are stored at this offset above ours. */
const inboundKeyBase = 65_536;

export function inboundMarkerKey(packetId: number): number {
  return inboundKeyBase + packetId;
}

/** The client's packet id a stored key names, or undefined for one of our own packet ids. */
export function inboundPacketId(key: number): number | undefined {
  return key > inboundKeyBase ? key - inboundKeyBase : undefined;
}
