/**
 * How long one large MQTT packet holds the broker's event loop: an in-process broker (memory
 * storage, default limits), each packet made beforehand (mqtt-packet) and sent on its own v5
 * connection, the loop's longest delay until the broker's first answer to it (`monitorEventLoopDelay`).
 * Not a test: `node dist/testing/loop-hold-mqtt.js [count]` prints one line per packet.
 */
import { once } from 'node:events';
import { connect } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import mqttPacket from 'mqtt-packet';
import { startTestBroker } from './broker.js';

const count = Number(process.argv[2] ?? 100_000);
const histogram = monitorEventLoopDelay({ resolution: 5 });
const filters = (n: number) => Array.from({ length: n }, (_, i) => `h/${i}`);
const userProperties = () => Object.fromEntries(Array.from({ length: count }, (_, i) => [`k${i}`, '']));
const v5 = { protocolVersion: 5 } as const;

// biome-ignore lint/suspicious/noExplicitAny: mqtt-packet's packet shapes
const bytesOf = (packet: any): Buffer => mqttPacket.generate(packet, v5);

/** Sends `packet` on a fresh connection once it is connected; the loop's longest hold until an answer. */
async function held(port: number, name: string, packet: Buffer): Promise<void> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(
    bytesOf({ cmd: 'connect', protocolVersion: 5, clientId: `hold-${name}`, clean: true, keepalive: 0 }),
  );
  await once(socket, 'data');
  histogram.reset();
  const start = performance.now();
  socket.write(packet);
  const outcome = await Promise.race([
    once(socket, 'data').then(
      ([chunk]) => `answered ${(chunk as Buffer).length} B (type ${(chunk as Buffer)[0]! >> 4})`,
    ),
    once(socket, 'close').then(() => 'closed'),
  ]);
  const tookMs = performance.now() - start;
  await new Promise((resolve) => setTimeout(resolve, 50));
  console.log(
    `${name} ×${count} (${packet.length} B): loop held ${(histogram.max / 1e6).toFixed(0)} ms, ${outcome} in ${tookMs.toFixed(0)} ms`,
  );
  socket.destroy();
}

async function main(): Promise<void> {
  const server = await startTestBroker({ listeners: ['mqtt'] });
  const port = server.port('mqtt');
  const subscriptions = filters(count).map((topic) => ({ topic, qos: 1 }));
  const packets: Record<string, Buffer> = {
    subscribe: bytesOf({ cmd: 'subscribe', messageId: 1, subscriptions }),
    unsubscribe: bytesOf({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: filters(count) }),
    publishUserProperties: bytesOf({
      cmd: 'publish',
      qos: 1,
      messageId: 3,
      topic: 'h/p',
      payload: 'x',
      properties: { userProperties: userProperties() },
    }),
    subscribeUserProperties: bytesOf({
      cmd: 'subscribe',
      messageId: 4,
      subscriptions: [{ topic: 'h/s', qos: 1 }],
      properties: { userProperties: userProperties() },
    }),
  };
  histogram.enable();
  for (let run = 0; run < 2; run++) {
    for (const [name, packet] of Object.entries(packets)) await held(port, name, packet);
  }
  histogram.disable();
  await server.stop();
}

await main();
