import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { produceAccepted, produceTemplate, templateSender } from '../../bench/latency-clients.js';
import { benchKafkaConn } from '../../testing/bench-kafka-conn.js';

const waitMs = 10_000;
const topic = 'latency-template';

describe('latency bench: Kafka requests copied from one template (LATENCY_KAFKA_ENCODE=template)', () => {
  const conn = benchKafkaConn(topic);

  it('sends each message as its own valid record batch, each index answered once', async () => {
    const arrived: number[] = [];
    const send = templateSender(conn(), topic, (i) => arrived.push(i));
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
      conn().pending.set(99_999, resolve);
      conn().socket.write(frame);
    });
    assert.equal(produceAccepted(answer, topic), false);
  });
});
