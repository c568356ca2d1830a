import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { batchOf, produce } from '../../bench/kafka-txn.js';
import {
  BatchAttribute,
  batchCrcValid,
  decodeRecords,
  readBatchHeader,
} from '../../src/protocols/kafka/codec/index.js';
import { benchKafkaConn } from '../../testing/bench-kafka-conn.js';

// The bench's own topic, which its requests name.
const topic = 'txn-bench';

describe('kafka-txn bench: both kinds of round pay the same client work', () => {
  it('gives every plain batch its own copy and CRC, without producer fields or the transactional bit', () => {
    const first = batchOf(false, -1n, -1, -1);
    batchOf(true, 7n, 3, 200); // a transactional batch in between takes its own template
    const second = batchOf(false, -1n, -1, -1);
    assert.notEqual(first.buffer, second.buffer, 'each batch is a copy');
    for (const batch of [first, second]) {
      const header = readBatchHeader(batch);
      assert.equal(batchCrcValid(batch, 0, header), true);
      assert.equal(header.attributes & BatchAttribute.transactional, 0);
      assert.equal(header.producerId, -1n);
      assert.equal(decodeRecords(batch).length, 100);
    }
  });

  it('sets a transactional batch’s producer fields and its own CRC', () => {
    const batch = batchOf(true, 7n, 3, 200);
    const header = readBatchHeader(batch);
    assert.equal(batchCrcValid(batch, 0, header), true);
    assert.notEqual(header.attributes & BatchAttribute.transactional, 0);
    assert.deepEqual([header.producerId, header.producerEpoch, header.baseSequence], [7n, 3, 200]);
  });

  describe('against a broker', () => {
    const conn = benchKafkaConn(topic);

    it('reads a plain Produce answer: accepted goes on, an error code stops the run', async () => {
      const batch = batchOf(false, -1n, -1, -1);
      await produce(0, conn(), 7, 0, batch, null);
      await assert.rejects(produce(0, conn(), 7, 5, batch, null), /Produce v7 failed with error 3/);
    });
  });
});
