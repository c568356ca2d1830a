/**
 * `$SYS/broker/...` statistics, republished every `sysIntervalMs` as retained messages (kept in
 * memory only), in the layout Mosquitto uses so existing dashboards find them.
 */
import { Buffer } from 'node:buffer';
import type { CoreClient } from '../../core/api.js';
import type { RetainedStore } from './retained.js';
import { topicExchange, topicToKey } from './topics.js';

/**
 * What `$SYS` reads of the MQTT server. ./server.ts's `MqttServer` is one and calls `publishSys`
 * with itself, so this file does not import it back.
 */
export interface SysSource {
  readonly vhost: Pick<CoreClient, 'stats' | 'listSessions' | 'publish'>;
  readonly version: string;
  readonly startedAtMs: number;
  readonly clients: ReadonlyMap<string, unknown>;
  readonly stats: { readonly received: number; readonly sent: number; readonly connectionsTotal: number };
  readonly retained: Pick<RetainedStore, 'size' | 'set'>;
  subscriptionCount(): number;
}

function figures(server: SysSource): Array<[string, string]> {
  const core = server.vhost.stats();
  return [
    ['$SYS/broker/version', `switchyard ${server.version}`],
    ['$SYS/broker/uptime', `${Math.floor((Date.now() - server.startedAtMs) / 1000)} seconds`],
    ['$SYS/broker/clients/connected', String(server.clients.size)],
    ['$SYS/broker/clients/total', String(server.vhost.listSessions().length)],
    ['$SYS/broker/connections/total', String(server.stats.connectionsTotal)],
    ['$SYS/broker/messages/received', String(server.stats.received)],
    ['$SYS/broker/messages/sent', String(server.stats.sent)],
    ['$SYS/broker/retained messages/count', String(server.retained.size)],
    ['$SYS/broker/subscriptions/count', String(server.subscriptionCount())],
    ['$SYS/broker/store/messages/count', String(core.messagesReady + core.messagesUnacked)],
  ];
}

function anySysSubscriber(server: SysSource): boolean {
  return server.vhost
    .listSessions()
    .some((session) => session.subscriptions.some((sub) => sub.pattern.startsWith('$SYS')));
}

/** Refreshes the retained values; routes them live only when some session subscribed to `$SYS`. */
export function publishSys(server: SysSource): void {
  const live = anySysSubscriber(server);
  for (const [topic, value] of figures(server)) {
    const body = Buffer.from(value);
    const properties = { persistent: false, qos: 0, retain: true } as const;
    void server.retained.set({ topic, body, properties }, false);
    if (live) server.vhost.publish(topicExchange, topicToKey(topic), { body, properties });
  }
}
