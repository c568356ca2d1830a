/**
 * A persistent session's PUBACKs keep the order of its PUBLISHes [MQTT-4.6.0-2] while a QoS 2 id
 * beside them waits for the session's write (src/protocols/mqtt/README.md, "QoS 2 from the client
 * across a restart"): the session log's writes stall, a QoS 1 and a QoS 2 publish go in one packet
 * run, then a second QoS 1. Before, the second PUBACK went at once, ahead of the first.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import mqttPacket, { type IPubackPacket, type IPublishPacket } from 'mqtt-packet';
import { startTestBroker } from '../../../testing/broker.js';
import { inTempFolder } from '../../../testing/crash-stall.js';
import { FaultyIo } from '../../../testing/faulty-io.js';
import { rawClient, sleep, until } from '../../../testing/mqtt-harness.js';

const clientId = 'ack-order-publisher';
/** How long the session log's writes stall: the QoS 2 id's write, so the first run's answers. */
const stallMs = 1_000;

const publish = (messageId: number, level: 1 | 2): IPublishPacket => ({
  cmd: 'publish',
  topic: 'ack-order/nobody',
  payload: `m${messageId}`,
  qos: level,
  messageId,
  dup: false,
  retain: false,
});

test('PUBACKs keep the order of the PUBLISHes while a QoS 2 id is being stored', () =>
  inTempFolder('switchyard-ack-order-', async (dataDir) => {
    const io = new FaultyIo();
    const tb = await startTestBroker({ listeners: ['mqtt'], storage: 'file', dataDir, storageIo: io });
    const raw = await rawClient(tb.port('mqtt'), 5);
    try {
      await raw.connect(clientId, { clean: false, properties: { sessionExpiryInterval: 600 } });
      io.slowMs = stallMs;
      io.slow.add(clientId);
      // One write, so one read: both publishes join one run of the connection's answers.
      const both = [publish(1, 1), publish(2, 2)].map((p) => mqttPacket.generate(p, { protocolVersion: 5 }));
      raw.write(Buffer.concat(both));
      await sleep(100);
      raw.send(publish(3, 1));
      const arrived = (cmd: string, id: number) =>
        raw.packets.some((p) => p.cmd === cmd && (p as IPubackPacket).messageId === id);
      await until(() => arrived('puback', 3) && arrived('pubrec', 2), 5_000, 'PUBACK 3 and PUBREC 2');
      const acks = raw.packets.filter((p) => p.cmd === 'puback').map((p) => (p as IPubackPacket).messageId);
      assert.deepEqual(acks, [1, 3], 'PUBACK 1 before PUBACK 3');
    } finally {
      io.slow.clear();
      raw.end();
      await tb.stop();
    }
  }));
