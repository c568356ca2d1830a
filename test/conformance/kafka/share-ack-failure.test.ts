/**
 * A share group's acknowledgement whose state write fails (the disk refuses the group's log) is not
 * answered NONE: as Kafka's SharePartition answers a failed persister write (COORDINATOR_NOT_AVAILABLE,
 * its share coordinator's storage failure through CoordinatorOperationExceptionHelper and
 * fetchPersisterError), in ShareAcknowledge and in a ShareFetch that carries acknowledgements, and
 * the records stay as they were: acquired by the member, which acknowledges them once the disk works.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { test } from 'node:test';
import { ApiKey, type ShareFetchResponse } from '../../../src/protocols/kafka/codec/index.js';
import { KafkaError } from '../../../src/protocols/kafka/errors.js';
import { AckType } from '../../../src/protocols/kafka/share-partition.js';
import { inTempFolder } from '../../../testing/crash-stall.js';
import { FaultyIo } from '../../../testing/faulty-io.js';
import { startKafkaOnDisk } from '../../../testing/kafka-helpers.js';
import { createFilled, shareMember, startAtEarliest } from '../../../testing/kafka-share.js';

const names = { topic: 'share-ack-fail', group: 'share-ack-fail-grp' };

/** The path part of the group's log: storage names it after the group. */
function groupLogPart(dataDir: string): string {
  const found = readdirSync(dataDir, { recursive: true, encoding: 'utf8' }).find((p) =>
    p.includes(names.group),
  );
  assert.ok(found !== undefined, 'the group has a log');
  return names.group;
}

test('an acknowledgement whose share-group state write fails is COORDINATOR_NOT_AVAILABLE and undone', () =>
  inTempFolder('switchyard-share-ack-fail-', async (dataDir) => {
    const io = new FaultyIo();
    const tb = await startKafkaOnDisk(dataDir, io);
    try {
      const port = tb.port('kafka');
      await createFilled(`127.0.0.1:${port}`, names.topic, ['a', 'b', 'c', 'd']);

      const m = await shareMember(port, names, 'member-a');
      await startAtEarliest(m.wire, names.group);
      assert.deepEqual(await m.fetch(0, 10), [[0, 3, 1]]);
      const part = groupLogPart(dataDir);

      io.failing.add(part);
      await m.acknowledge(1, 0, [AckType.accept, AckType.accept], KafkaError.coordinatorNotAvailable);
      const carried = await m.wire.request<ShareFetchResponse>(ApiKey.ShareFetch, 1, {
        groupId: names.group,
        memberId: 'member-a',
        shareSessionEpoch: 2,
        maxWaitMs: 0,
        minBytes: 1,
        maxBytes: 1024 * 1024,
        maxRecords: 10,
        batchSize: 10,
        topics: [
          {
            topicId: m.topicId,
            partitions: [
              {
                partitionIndex: 0,
                acknowledgementBatches: [
                  { firstOffset: 2n, lastOffset: 3n, acknowledgeTypes: [AckType.release] },
                ],
              },
            ],
          },
        ],
      });
      assert.equal(carried.errorCode, KafkaError.none);
      const p = carried.responses[0]?.partitions[0];
      assert.equal(p?.acknowledgeErrorCode, KafkaError.coordinatorNotAvailable);
      assert.deepEqual(
        p?.acquiredRecords ?? [],
        [],
        'the released records were put back, not handed out again',
      );
      assert.ok(io.refused > 0, 'the disk refused the group log');

      // Another member gets nothing: the four records are still member-a's.
      io.failing.delete(part);
      const other = await shareMember(port, names, 'member-b');
      assert.deepEqual(await other.fetch(0, 10), []);
      // Once the disk works, member-a's acknowledgements of the same records go through.
      await m.acknowledge(3, 0, [AckType.accept, AckType.accept, AckType.accept, AckType.accept]);
      m.wire.close();
      other.wire.close();
    } finally {
      await tb.stop();
    }
  }));
