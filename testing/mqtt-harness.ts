/**
 * Helpers for the MQTT conformance tests: an in-process broker with the MQTT listeners on free
 * ports, mqtt.js clients that never reconnect by themselves, and bounded waits for messages.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createConnection } from 'node:net';
import mqtt, { type IClientOptions, type IConnackPacket, type IPublishPacket, type MqttClient } from 'mqtt';
import mqttPacket, { type IConnectPacket, type Packet } from 'mqtt-packet';
import type { MqttOptions } from '../src/protocols/mqtt/limits.js';
import { mqttListeners } from '../src/protocols/mqtt/listener.js';
import type { Broker } from '../src/server/broker.js';
import { startTestBroker } from './broker.js';
import { listenerFlags } from './server-cli.js';

export interface MqttTestBroker {
  readonly broker: Broker;
  readonly url: string;
  readonly wsUrl: string;
  readonly port: number;
  stop(): Promise<void>;
}

/** `switchyard start` flags with the MQTT TCP listener on a free port and every other listener off. */
export const mqttTcpOnlyFlags: readonly string[] = listenerFlags({ mqtt: 'auto' });

export async function startMqttBroker(
  options: MqttOptions & { storage?: 'memory' | 'file'; dataDir?: string } = {},
): Promise<MqttTestBroker> {
  const { storage = 'memory', dataDir, ...mqtt } = options;
  const started = await startTestBroker({
    listeners: ['mqtt', 'mqttWs'],
    storage,
    ...(dataDir === undefined ? {} : { dataDir }),
    definitions: mqttListeners(mqtt),
  });
  return {
    broker: started.broker,
    port: started.port('mqtt'),
    url: started.url('mqtt'),
    wsUrl: started.url('mqttWs'),
    stop: started.stop,
  };
}

const inboxes = new WeakMap<MqttClient, Inbox>();
const connacks = new WeakMap<MqttClient, IConnackPacket>();

/** The CONNACK the client got. */
export function connack(client: MqttClient): IConnackPacket {
  const packet = connacks.get(client);
  if (packet === undefined) throw new Error('client not connected through connect()');
  return packet;
}

/** Connects; the client's inbox is attached before CONNACK so no early message is missed. */
export function connect(url: string, options: IClientOptions = {}): Promise<MqttClient> {
  const client = mqtt.connect(url, {
    reconnectPeriod: 0,
    connectTimeout: 3000,
    protocolVersion: 4,
    ...options,
  });
  inboxes.set(client, attachInbox(client));
  return new Promise((resolve, reject) => {
    client.once('connect', (packet) => {
      connacks.set(client, packet);
      resolve(client);
    });
    client.once('error', (err) => {
      client.end(true);
      reject(err);
    });
    client.once('close', () => reject(new Error('closed before CONNACK')));
  });
}

export interface Received {
  readonly topic: string;
  readonly text: string;
  readonly packet: IPublishPacket;
}

export interface Inbox {
  readonly messages: Received[];
  /** Resolves once `count` messages arrived in total; fails after `timeoutMs`. */
  wait(count: number, timeoutMs?: number): Promise<Received[]>;
}

export function inbox(client: MqttClient): Inbox {
  return inboxes.get(client) ?? attachInbox(client);
}

function attachInbox(client: MqttClient): Inbox {
  const messages: Received[] = [];
  client.on('message', (topic, payload, packet) =>
    messages.push({ topic, text: payload.toString(), packet }),
  );
  return {
    messages,
    wait: (count, timeoutMs = 3000) =>
      until(
        () => messages.length >= count,
        timeoutMs,
        () => `${count} messages (got ${messages.length})`,
      ).then(() => messages),
  };
}

import { sleep, until } from './wait.js';

export { sleep, until };

/** Ends a client without waiting on a broker that may be gone. */
export async function closeAll(...clients: Array<MqttClient | undefined>): Promise<void> {
  await Promise.all(clients.map((c) => (c === undefined ? undefined : c.endAsync(true).catch(() => {}))));
}

/** The reason code of the DISCONNECT among `packets` (0 when it has none), undefined when there is none. */
export function disconnectReason(packets: readonly Packet[]): number | undefined {
  const d = packets.find((p) => p.cmd === 'disconnect');
  return d === undefined ? undefined : ((d as { reasonCode?: number }).reasonCode ?? 0);
}

/** A bare MQTT client over TCP: sends exactly the packets (or bytes) a test gives, records what comes back. */
/** CONNECT fields of a persistent session: clean session 0 (3.1.1), or Clean Start 0 with an hour's expiry (5.0). */
export function persistentSession(version: 4 | 5): Partial<IConnectPacket> {
  return version === 5 ? { clean: false, properties: { sessionExpiryInterval: 3600 } } : { clean: false };
}

export interface RawClient {
  readonly packets: Packet[];
  send(packet: Packet): void;
  write(bytes: Uint8Array): void;
  /**
   * Sends CONNECT in the client's protocol version (clean, keep alive 30 s unless `fields` say
   * otherwise) and resolves with the CONNACK, whatever its code.
   */
  connect(clientId: string, fields?: Partial<IConnectPacket>): Promise<Packet>;
  /** The next received packet satisfying `match` (searching what already arrived first). */
  expect(match: (p: Packet) => boolean, timeoutMs?: number): Promise<Packet>;
  readonly closed: Promise<void>;
  isClosed(): boolean;
  end(): void;
}

export async function rawClient(port: number, protocolVersion: 3 | 4 | 5 = 4): Promise<RawClient> {
  const socket = createConnection({ host: '127.0.0.1', port });
  await once(socket, 'connect');
  const parser = mqttPacket.parser({ protocolVersion });
  const packets: Packet[] = [];
  parser.on('packet', (p: Packet) => packets.push(p));
  parser.on('error', () => {});
  socket.on('data', (chunk: Buffer) => parser.parse(chunk));
  socket.on('error', () => {});
  let isClosed = false;
  const closed = new Promise<void>((resolve) =>
    socket.once('close', () => {
      isClosed = true;
      resolve();
    }),
  );
  let seen = 0;
  const send = (packet: Packet) => socket.write(mqttPacket.generate(packet, { protocolVersion }));
  const expect = async (match: (p: Packet) => boolean, timeoutMs = 3000): Promise<Packet> => {
    let found: Packet | undefined;
    await until(
      () => {
        const index = packets.findIndex((p, i) => i >= seen && match(p));
        if (index >= 0) {
          found = packets[index];
          seen = index + 1;
        }
        return found !== undefined;
      },
      timeoutMs,
      'expected packet',
    );
    return found!;
  };
  return {
    packets,
    send,
    write: (bytes) => socket.write(bytes),
    connect(clientId, fields = {}) {
      send({ cmd: 'connect', protocolVersion, clientId, clean: true, keepalive: 30, ...fields });
      return expect((p) => p.cmd === 'connack');
    },
    expect,
    closed,
    isClosed: () => isClosed,
    end: () => socket.destroy(),
  };
}

/**
 * Once every exchange of a persistent session completed, its client reconnecting is sent neither a
 * PUBLISH nor a PUBREL within `waitMs`: no packet id is still owed.
 */
export async function owedNothing(
  port: number,
  version: 4 | 5,
  clientId: string,
  waitMs: number,
): Promise<void> {
  const again = await rawClient(port, version);
  try {
    await again.connect(clientId, persistentSession(version));
    await sleep(waitMs);
    const owed = again.packets.filter((p) => p.cmd === 'publish' || p.cmd === 'pubrel');
    assert.deepEqual(owed, [], 'nothing owed once every exchange completed');
  } finally {
    again.end();
  }
}
