/** spec/kubemq/kubemq.proto is KubeMQ's own, unchanged, and the server implements exactly its RPCs. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BrokerCore } from '../../../src/core/broker.js';
import { serviceImplementation } from '../../../src/protocols/kubemq/grpc.js';
import { messageFrom, messageJson } from '../../../src/protocols/kubemq/json.js';
import { kubemqService } from '../../../src/protocols/kubemq/proto.js';
import { KubemqServer } from '../../../src/protocols/kubemq/server.js';
import { createAuthenticator } from '../../../src/server/auth.js';
import { silentLogger } from '../../../src/shared/logger.js';
import { MemoryStorage } from '../../../src/storage/memory.js';

const root = new URL('../../../../', import.meta.url);

test('kubemq.proto matches the hash recorded in spec/kubemq/SOURCE.md', () => {
  const proto = readFileSync(fileURLToPath(new URL('spec/kubemq/kubemq.proto', root)));
  const source = readFileSync(fileURLToPath(new URL('spec/kubemq/SOURCE.md', root)), 'utf8');
  const recorded = /SHA-256 of `kubemq\.proto` as copied: `([0-9a-f]{64})`/.exec(source)?.[1];
  assert.equal(createHash('sha256').update(proto).digest('hex'), recorded);
});

test('the server implements every RPC of the service and nothing else', async () => {
  const core = await BrokerCore.open({ storage: new MemoryStorage() });
  const auth = createAuthenticator(
    { defaultUser: 'guest', defaultPass: 'guest', loopbackOnlyUsers: [] },
    core,
  );
  const server = new KubemqServer({ core, auth, logger: silentLogger(), version: 't', startedAtMs: 0 });
  const implemented = Object.keys(serviceImplementation(server)).sort();
  const declared = Object.keys(kubemqService()).sort();
  assert.deepEqual(implemented, declared);
  assert.equal(declared.length, 15);
  await auth.close();
  await core.close();
});

test('the JSON form round-trips every field kind: strings, bytes as base64, int64, maps, nested, repeated', () => {
  const message = messageFrom('QueueMessagesBatchRequest', {
    batchid: 'b',
    MESSAGES: [
      {
        Channel: 'c',
        Body: Buffer.from('hi').toString('base64'),
        Tags: { k: 'v' },
        Attributes: { Sequence: 7 },
      },
    ],
  });
  const text = messageJson('QueueMessagesBatchRequest', message);
  assert.equal(
    text,
    '{"BatchID":"b","Messages":[{"Channel":"c","Body":"aGk=","Tags":{"k":"v"},"Attributes":{"Sequence":7}}]}',
  );
  assert.throws(() => messageFrom('Event', { Body: 5 }), /Body must be a base64 string/);
  assert.throws(() => messageFrom('Event', [1]), /must be an object/);
});
