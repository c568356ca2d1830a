import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Conn } from '../../bench/kafka.js';
import { produceAccepted, produceTemplate, templateSender } from '../../bench/latency-clients.js';
import { Broker } from '../../src/index.js';
import { ApiKey } from '../../src/protocols/kafka/codec/index.js';
import { silentLogger } from '../../src/shared/logger.js';
import { allPortsOff } from '../../testing/server-helpers.js';

const waitMs = 10_000;
const topic = 'latency-template';

describe('latency bench: Kafka requests copied from one template (LATENCY_KAFKA_ENCODE=template)', () => {
  let broker: Broker | undefined;
  let conn: Conn | undefined;
  before(async () => {
    broker = await Broker.start({
      storage: 'memory',
      logger: silentLogger(),
      ...allPortsOff,
      kafkaPort: 'auto',
    });
    conn = await Conn.open(broker.ports.kafkaPort!);
    await conn.request(ApiKey.CreateTopics, 4, {
      topics: [{ name: topic, numPartitions: 1, replicationFactor: 1 }],
      timeoutMs: 5000,
    });
  });
  after(async () => {
    conn?.socket.destroy();
    await broker?.stop();
  });

  it('sends each message as its own valid record batch, each index answered once', async () => {
    const arrived: number[] = [];
    const send = templateSender(conn!, topic, (i) => arrived.push(i));
    const indexes = [7, 1_000_000, 3];
    for (const i of indexes) send(i);
    const deadline = Date.now() + waitMs;
    while (arrived.length < indexes.length && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(arrived, indexes);
  });

  it('counts a batch the broker refuses (a CRC left stale) as not arrived', async () => {
    const t = produceTemplate(topic);
    const frame = Buffer.from(t.frame);
    frame.writeInt32BE(99_999, 8);
    frame.writeUInt32BE(42, t.valueAt); // the index changed, the CRC not written again
    const answer = await new Promise<Uint8Array>((resolve) => {
      conn!.pending.set(99_999, resolve);
      conn!.socket.write(frame);
    });
    assert.equal(produceAccepted(answer, topic), false);
  });
});
