/**
 * After CONNACK: the session's subscriptions come back into the connection, PUBRELs still owed are
 * sent again, the client's QoS 2 ids still awaiting PUBREL are known again (after a restart too), QoS 1/2 messages sent before keep their packet ids for the resend with DUP
 * (MQTT 5.0 §4.4), and the connection starts consuming the session queue if the session has one.
 */

import { pendingQos2 } from './inbound.js';
import {
  entryFromArgs,
  fullFilter,
  inboundPacketId,
  pubrelOwed,
  qos1Offset,
  releasedMarker,
  releasedOffset,
  sentOffset,
} from './model.js';
import { owePubrel, packetIdAfter, packetIdMax, persist } from './outbound.js';
import type { Connection } from './session.js';
import { attachShared, consumeSession, consumeWindow, loadShared } from './shared.js';
import { forgetSessionState } from './teardown.js';

export function resume(conn: Connection, present: boolean): void {
  const { server } = conn;
  const session = conn.session!;
  // Set once per connection, before any consumer (session or shared) asks it.
  conn.credit.setMax(consumeWindow(conn));
  // A durable session's counter runs down, away from the derived ids (outbound.ts `allocatePacketId`).
  if (session.durable) conn.nextPacketId = packetIdMax;
  if (present) {
    for (const sub of session.subscriptions()) {
      const entry = entryFromArgs(sub.options);
      if (entry !== undefined) conn.subscriptions.set(entry.filter, entry);
    }
    for (const entry of loadShared(conn)) {
      conn.subscriptions.set(fullFilter(entry), entry);
      attachShared(conn, entry);
    }
    resumeInflight(conn);
    // A new session has no queue until its first SUBSCRIBE (./subscribe.ts consumes it then).
    if (session.hasQueue) consumeSession(conn);
  } else {
    forgetSessionState(server, conn.clientId);
  }
}

function resumeInflight(conn: Connection): void {
  const session = conn.session!;
  let highest = 0;
  for (const [packetId, value] of session.inflight()) {
    const inbound = inboundPacketId(packetId);
    if (inbound !== undefined) {
      // Already known unless the broker restarted; a PUBREC for it went, so none is pending.
      const awaiting = pendingQos2(conn);
      if (!awaiting.has(inbound)) awaiting.set(inbound, undefined);
      continue;
    }
    highest = Math.max(highest, packetId);
    resumeOutbound(conn, packetId, value);
  }
  if (!session.durable) conn.nextPacketId = packetIdAfter(highest);
}

/**
 * One of our packet ids the session recorded. A PUBLISH recorded by its message's offset (QoS 2, or
 * QoS 1 sent under an id other than its derived one) is resent when the message comes back. When the
 * queue no longer holds a QoS 1 one, it was acknowledged, and its marker goes; a QoS 2 one's PUBREC was
 * processed (the delivery's ack is durable) and only the marker's change to PUBREL owed was lost, so
 * PUBREL goes now and frees the id. A PUBREL owed that still names the message's offset: when the queue holds the
 * message again (the marker was durable, its ack not), the client has it, and the copy is dropped.
 */
function resumeOutbound(conn: Connection, packetId: number, value: number): void {
  const session = conn.session!;
  const acked = qos1Offset(value);
  if (acked !== undefined && session.holdsStored(acked) === false) {
    // A QoS 1 PUBLISH whose PUBACK's ack is durable and its marker's removal was not: nothing is owed.
    persist(conn, session.deleteInflight(packetId));
    return;
  }
  const sent = sentOffset(value);
  if (sent !== undefined && session.holdsStored(sent) === false) {
    persist(conn, session.setInflight(packetId, pubrelOwed));
    owePubrel(conn, packetId);
    return;
  }
  const released = releasedOffset(value);
  if (value === pubrelOwed || released !== undefined) {
    if (released !== undefined && session.holdsStored(released) !== false)
      conn.resend.set(releasedMarker(released), packetId);
    owePubrel(conn, packetId);
    return;
  }
  conn.resend.set(value, packetId);
  conn.reserved.add(packetId);
}
