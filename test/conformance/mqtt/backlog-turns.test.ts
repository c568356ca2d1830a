/**
 * One client pipelining packets cannot keep the others waiting until all of them are handled: a
 * connection's backlog yields the event loop every `backlogPacketsPerTurnMax` packets. Before, SUBSCRIBE
 * and UNSUBSCRIBE of shared subscriptions answered through microtasks, so the 1,200 packets of one read
 * ran in one turn and the other client's PINGREQ waited behind all of them.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Packet } from 'mqtt-packet';
import mqttPacket from 'mqtt-packet';
import { type MqttTestBroker, rawClient, startMqttBroker, until } from '../../../testing/mqtt-harness.js';

let server: MqttTestBroker;
before(async () => {
  server = await startMqttBroker();
});
after(() => server.stop());

const pairs = 600;

/** SUBSCRIBE and UNSUBSCRIBE of `pairs` new share groups, as one write. */
function churn(): Buffer {
  const packets: Buffer[] = [];
  for (let i = 0; i < pairs; i++) {
    const filter = `$share/g${i}/t/${i}`;
    const messageId = i + 1;
    const subscribe: Packet = { cmd: 'subscribe', messageId, subscriptions: [{ topic: filter, qos: 1 }] };
    packets.push(mqttPacket.generate(subscribe, { protocolVersion: 5 }));
    packets.push(
      mqttPacket.generate(
        { cmd: 'unsubscribe', messageId, unsubscriptions: [filter] },
        { protocolVersion: 5 },
      ),
    );
  }
  return Buffer.concat(packets);
}

/** Calls `seen` with each packet as it arrives, in arrival order across clients. */
function watch(packets: Packet[], seen: (p: Packet) => void): void {
  packets.push = (...items: Packet[]): number => {
    for (const item of items) seen(item);
    return Array.prototype.push.apply(packets, items);
  };
}

test("another client's PINGREQ is answered while one client's pipelined SUBSCRIBEs are handled", async () => {
  const flood = await rawClient(server.port, 5);
  await flood.connect('churner');
  const other = await rawClient(server.port, 5);
  await other.connect('other');
  let subacks = 0;
  let unsubacks = 0;
  let unsubacksAtPong: number | undefined;
  watch(flood.packets, (p) => {
    if (p.cmd === 'suback') subacks++;
    if (p.cmd === 'unsuback') unsubacks++;
  });
  watch(other.packets, (p) => {
    if (p.cmd === 'pingresp') unsubacksAtPong ??= unsubacks;
  });
  flood.write(churn());
  // The other client asks once the first answers of the churn are out: the churn is under way.
  await until(() => subacks > 0, 30_000, 'a first SUBACK');
  other.send({ cmd: 'pingreq' });
  await until(
    () => unsubacksAtPong !== undefined && unsubacks === pairs,
    60_000,
    'the PINGRESP and every UNSUBACK',
  );
  assert.ok(unsubacksAtPong! < pairs, `the PINGRESP came after ${unsubacksAtPong} of ${pairs} UNSUBACKs`);
  flood.end();
  other.end();
});
