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
 * In the same map, for a durable session, three kinds of marker name a message of the session queue
 * by `Delivery.storedAt` (which, unlike the delivery id, a restart keeps), each kind a range of values
 * from -3 down: a QoS 2 PUBLISH sent under the packet id and not yet PUBRECed, so the resend after a
 * restart reuses the id [MQTT-4.4.0-1]; a QoS 2 message PUBRECed, its PUBREL owed, still naming the
 * message so that a restart which finds it back in the queue (its ack was not yet durable) knows the
 * client has it; and a QoS 1 PUBLISH sent and not yet PUBACKed. Each kind has 2^50 offsets, more than
 * a queue log appends in decades (`storedOffsetMax`); QoS 2's sent markers, the first kind, keep the
 * values they had before the others were added.
 */
const markerBase = -3;
const markerKindOffsets = 2 ** 50;
const storedOffsetMax = markerKindOffsets - 1;
const sentKind = 0;
const releasedKind = 1;
const sentQos1Kind = 2;

function offsetMarker(kind: number, storedAt: number): number {
  assert(storedAt >= 0 && storedAt <= storedOffsetMax, 'stored offset out of the marker range');
  return markerBase - kind * markerKindOffsets - storedAt;
}

/** The offset a marker of `kind` names; undefined for any other value. */
function markerOffset(kind: number, marker: number): number | undefined {
  const offset = markerBase - kind * markerKindOffsets - marker;
  return offset >= 0 && offset <= storedOffsetMax ? offset : undefined;
}

export function sentMarker(storedAt: number): number {
  return offsetMarker(sentKind, storedAt);
}

export function sentOffset(marker: number): number | undefined {
  return markerOffset(sentKind, marker);
}

export function releasedMarker(storedAt: number): number {
  return offsetMarker(releasedKind, storedAt);
}

export function releasedOffset(marker: number): number | undefined {
  return markerOffset(releasedKind, marker);
}

export function sentQos1Marker(storedAt: number): number {
  return offsetMarker(sentQos1Kind, storedAt);
}

export function sentQos1Offset(marker: number): number | undefined {
  return markerOffset(sentQos1Kind, marker);
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
