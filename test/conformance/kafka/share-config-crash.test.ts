/**
 * A share group's config change (IncrementalAlterConfigs on a GROUP resource, KIP-932) is answered
 * only once the group's log holds it: a child broker whose group logs' writes never land is asked to
 * change `share.record.lock.duration.ms`, then SIGKILLed, and a broker started on the same folder
 * describes the group's configs. Before the fix the change was answered at once and the old value
 * was back after the restart. And a change whose write fails (the disk refuses the group's log) is
 * not answered NONE: before, it was, and the group went on with the value no restart would have.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ApiKey,
  type DescribeConfigsResponse,
  type IncrementalAlterConfigsResponse,
} from '../../../src/protocols/kafka/codec/index.js';
import { KafkaError } from '../../../src/protocols/kafka/errors.js';
import { startTestBroker } from '../../../testing/broker.js';
import { inTempFolder, settlesWithin, startStalledChild } from '../../../testing/crash-stall.js';
import { FaultyIo } from '../../../testing/faulty-io.js';
import { startKafkaBroker } from '../../../testing/kafka-helpers.js';
import { WireClient } from '../../../testing/kafka-wire.js';

/** How long the test waits for an answer that must not come before the change is stored. */
const answerWaitMs = 1_500;
const group = 'sg-kept';
const lockKey = 'share.record.lock.duration.ms';
/** Kafka's ConfigResource.Type GROUP. */
const groupResource = 32;

async function setLockMs(wire: WireClient, value: string): Promise<number> {
  const body = {
    resources: [
      {
        resourceType: groupResource,
        resourceName: group,
        configs: [{ name: lockKey, configOperation: 0, value }],
      },
    ],
    validateOnly: false,
  };
  const r = await wire.request<IncrementalAlterConfigsResponse>(ApiKey.IncrementalAlterConfigs, 1, body);
  return r.responses[0]!.errorCode;
}

async function lockMsOf(wire: WireClient): Promise<string | null | undefined> {
  const r = await wire.request<DescribeConfigsResponse>(ApiKey.DescribeConfigs, 4, {
    resources: [{ resourceType: groupResource, resourceName: group, configurationKeys: [lockKey] }],
    includeSynonyms: false,
    includeDocumentation: false,
  });
  return r.results[0]?.configs[0]?.value;
}

/** In a child broker: 5000 stored, then group logs stalled and 7000 asked for; the child dies. */
async function alteredWhileStalled(dataDir: string): Promise<boolean> {
  const child = await startStalledChild(dataDir, 'kafka');
  try {
    const wire = await WireClient.open(child.port);
    assert.equal(await setLockMs(wire, '5000'), 0);
    await child.stall('/logs/group.');
    const answered = await settlesWithin(setLockMs(wire, '7000'), answerWaitMs);
    wire.close();
    return answered;
  } finally {
    await child.kill();
  }
}

test("a share group's config change is answered only once stored: the new value is there after a crash", () =>
  inTempFolder('switchyard-share-config-crash-', async (dataDir) => {
    const answered = await alteredWhileStalled(dataDir);
    const broker = await startKafkaBroker({ storage: 'file', dataDir });
    try {
      const wire = await WireClient.open(broker.port);
      const value = await lockMsOf(wire);
      wire.close();
      assert.ok(
        !answered || value === '7000',
        `a change whose answer came is there after the crash (${value})`,
      );
      assert.equal(answered, false, 'no answer while the change is not stored');
      assert.equal(value, '5000', 'the value stored before the stall is kept');
    } finally {
      await broker.stop();
    }
  }));

test("a share group's config change whose write fails is an error, and the value before stays", () =>
  inTempFolder('switchyard-share-config-fail-', async (dataDir) => {
    const io = new FaultyIo();
    const tb = await startTestBroker({ listeners: ['kafka'], storage: 'file', dataDir, storageIo: io });
    try {
      const wire = await WireClient.open(tb.port('kafka'));
      assert.equal(await setLockMs(wire, '5000'), KafkaError.none);
      io.failing.add('/logs/group.');
      assert.equal(await setLockMs(wire, '7000'), KafkaError.unknownServerError, 'not NONE');
      assert.ok(io.refused > 0, "the disk refused the group's log");
      io.failing.clear();
      assert.equal(await lockMsOf(wire), '5000', 'the value stored before is the one in force');
      wire.close();
    } finally {
      await tb.stop();
    }
  }));
