/**
 * After a connection closes: QoS 0 acks still held are given, every delivery the connection held
 * goes back to its queue (flagged redelivered), the session's expiry clock starts, and the will is
 * published after its delay unless the client said goodbye properly (MQTT 5.0 §3.1.2.5, §3.14.4).
 */
import type { CoreClient } from '../../core/api.js';
import { publishToTopic } from './inbound.js';
import { toCore } from './properties.js';
import type { MqttServer } from './server.js';
import type { Connection, Will } from './session.js';

function publishWill(server: MqttServer, core: CoreClient, clientId: string, will: Will): void {
  const properties = toCore(will.properties, {
    qos: will.qos,
    retain: will.retain,
    publisher: clientId,
    nowMs: Date.now(),
  });
  try {
    publishToTopic(server, core, will.topic, { body: will.payload, properties, retain: will.retain });
    server.stats.received++;
  } catch (err) {
    server.logger.warn({ err, clientId }, 'mqtt will not published');
  }
}

/**
 * A session ended (or starts clean): what the MQTT side keeps for it beside the core session goes
 * too. Its shared subscriptions went with the core session.
 */
export function forgetSessionState(server: MqttServer, clientId: string): void {
  server.incomingQos2.delete(clientId);
}

export function onClosed(conn: Connection): void {
  const { server, clientId, session } = conn;
  conn.flushAcks();
  const core = conn.coreIfAttached;
  core?.closeConnection();
  const expirySec = conn.sessionExpirySec;
  const will = conn.will;
  if (will !== undefined && core !== undefined) {
    const delaySec = Math.min(will.delaySec, expirySec ?? Number.POSITIVE_INFINITY);
    server.scheduleWill(clientId, delaySec * 1000, () => publishWill(server, core, clientId, will));
  }
  if (session === undefined) return;
  if (expirySec === 0) forgetSessionState(server, clientId);
  session.disconnect(expirySec === undefined ? undefined : expirySec * 1000).catch((err: unknown) => {
    server.logger.warn({ err, clientId }, 'mqtt session disconnect failed');
  });
}
