/**
 * After a connection closes: QoS 0 acks still held are given, every delivery the connection held
 * goes back to its queue (flagged redelivered), the session's expiry clock starts, and the will is
 * published after its delay unless the client said goodbye properly (MQTT 5.0 §3.1.2.5, §3.14.4).
 */
import type { Buffer } from 'node:buffer';
import type { QoS } from 'mqtt-packet';
import type { Connection } from './connection.js';
import { type PublishProperties, toCore } from './properties.js';
import type { MqttServer } from './server.js';
import { forgetShared } from './shared.js';
import { topicExchange, topicToKey } from './topics.js';

export interface Will {
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: QoS;
  readonly retain: boolean;
  readonly delaySec: number;
  readonly properties: PublishProperties;
}

export function publishWill(server: MqttServer, clientId: string, will: Will): void {
  const properties = toCore(will.properties, {
    qos: will.qos,
    retain: will.retain,
    publisher: clientId,
    nowMs: Date.now(),
  });
  try {
    if (will.retain)
      void server.retained.set({ topic: will.topic, body: will.payload, properties }).catch(() => {});
    server.vhost.publish(topicExchange, topicToKey(will.topic), { body: will.payload, properties });
    server.stats.received++;
  } catch (err) {
    server.logger.warn({ err, clientId }, 'mqtt will not published');
  }
}

export function onClosed(conn: Connection): void {
  const { server, clientId, session } = conn;
  conn.flushAcks();
  server.vhost.closeConnection(conn.id);
  const expirySec = conn.sessionExpirySec;
  const will = conn.will;
  if (will !== undefined && !conn.normalDisconnect && !conn.shuttingDown) {
    const delaySec = Math.min(will.delaySec, expirySec ?? Number.POSITIVE_INFINITY);
    server.scheduleWill(clientId, delaySec * 1000, () => publishWill(server, clientId, will));
  }
  if (session === undefined) return;
  if (expirySec === 0) {
    server.incomingQos2.delete(clientId);
    void forgetShared(server, clientId).catch(() => {});
  }
  session.disconnect(expirySec === undefined ? undefined : expirySec * 1000).catch((err: unknown) => {
    server.logger.warn({ err, clientId }, 'mqtt session disconnect failed');
  });
}
