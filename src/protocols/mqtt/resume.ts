/**
 * After CONNACK: the session's subscriptions come back into the connection, PUBRELs still owed are
 * sent again, the client's QoS 2 ids still awaiting PUBREL are known again (after a restart too), QoS 1/2 messages sent before keep their packet ids for the resend with DUP
 * (MQTT 5.0 §4.4), and the connection starts consuming the session queue if the session has one.
 */

import { pendingQos2 } from './inbound.js';
import { entryFromArgs, fullFilter, inboundPacketId, pubrelOwed } from './model.js';
import { packetIdAfter } from './outbound.js';
import type { Connection } from './session.js';
import { attachShared, consumeSession, consumeWindow, loadShared } from './shared.js';
import { forgetSessionState } from './teardown.js';

export function resume(conn: Connection, present: boolean): void {
  const { server } = conn;
  const session = conn.session!;
  // Set once per connection, before any consumer (session or shared) asks it.
  conn.credit.setMax(consumeWindow(conn));
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
  for (const [packetId, deliveryId] of session.inflight()) {
    const inbound = inboundPacketId(packetId);
    if (inbound !== undefined) {
      // Already known unless the broker restarted; a PUBREC for it went, so none is pending.
      const awaiting = pendingQos2(conn);
      if (!awaiting.has(inbound)) awaiting.set(inbound, undefined);
      continue;
    }
    highest = Math.max(highest, packetId);
    if (deliveryId === pubrelOwed) {
      conn.outbound.set(packetId, {
        queue: session.queue,
        deliveryId,
        stage: 'pubrel',
        stored: true,
        qos: 2,
      });
      conn.send({ cmd: 'pubrel', messageId: packetId });
    } else {
      conn.resend.set(deliveryId, packetId);
      conn.reserved.add(packetId);
    }
  }
  conn.nextPacketId = packetIdAfter(highest);
}
