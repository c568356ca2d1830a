/**
 * After CONNACK: the session's subscriptions come back into the connection, PUBRELs still owed are
 * sent again, QoS 1/2 messages sent before keep their packet ids for the resend with DUP
 * (MQTT 5.0 §4.4), and the connection starts consuming the session queue.
 */
import type { Connection } from './connection.js';
import { entryFromArgs } from './model.js';
import { deliver, offer } from './outbound.js';
import { attachShared, consumeWindow, forgetShared, loadShared } from './shared.js';

/** Marks a packet id whose message was acked at PUBREC; only its PUBREL is owed. */
export const pubrelOwed = -1;

export function resume(conn: Connection, present: boolean): void {
  const { server } = conn;
  const session = conn.session!;
  if (present) {
    for (const sub of session.subscriptions()) {
      const entry = entryFromArgs(sub.options);
      if (entry !== undefined) conn.subscriptions.set(entry.filter, entry);
    }
    for (const entry of loadShared(server, conn.clientId)) {
      conn.subscriptions.set(`$share/${entry.group}/${entry.filter}`, entry);
      attachShared(conn, entry);
    }
    resumeInflight(conn);
  } else {
    server.incomingQos2.delete(conn.clientId);
    void forgetShared(server, conn.clientId).catch(() => {});
  }
  conn.sessionConsumer = server.vhost.consume(session.queue, {
    tag: conn.owner,
    owner: conn.owner,
    prefetch: consumeWindow(conn),
    limits: [conn.credit],
    deliver: (delivery) => deliver(conn, delivery),
    offer: (message) => offer(conn, message),
  });
}

function resumeInflight(conn: Connection): void {
  const session = conn.session!;
  let highest = 0;
  for (const [packetId, deliveryId] of session.inflight()) {
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
  conn.nextPacketId = (highest % 65_535) + 1;
}
