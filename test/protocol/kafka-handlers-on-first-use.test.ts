/**
 * The Kafka handlers loaded at their first request: the ranges ApiVersions advertises for them (listed
 * without loading their modules) are the ranges their modules declare, no handler of those modules is
 * left out, and a request reaches the loaded handler, also when the first import failed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiKey } from '../../src/protocols/kafka/codec/index.js';
import type { ApiHandler, RequestContext } from '../../src/protocols/kafka/context.js';
import { handlers, loadedOnFirstUse, onFirstUse } from '../../src/protocols/kafka/handlers/index.js';

const modules = [
  () => import('../../src/protocols/kafka/handlers/acls.js'),
  () => import('../../src/protocols/kafka/handlers/configs.js'),
  () => import('../../src/protocols/kafka/handlers/consumer-groups.js'),
  () => import('../../src/protocols/kafka/handlers/scram.js'),
  () => import('../../src/protocols/kafka/handlers/share-groups.js'),
  () => import('../../src/protocols/kafka/handlers/transactions.js'),
];

function isHandler(value: unknown): value is ApiHandler {
  return typeof value === 'object' && value !== null && 'apiKey' in value && 'handle' in value;
}

test('every handler of the modules loaded on first use is listed with the range its module declares', async () => {
  const declared = new Map<number, ApiHandler>();
  for (const load of modules) {
    for (const value of Object.values(await load())) if (isHandler(value)) declared.set(value.apiKey, value);
  }
  assert.equal(loadedOnFirstUse.length, declared.size);
  for (const listed of loadedOnFirstUse) {
    const real = declared.get(listed.apiKey);
    assert.ok(real, `API ${listed.apiKey} has a handler in its module`);
    assert.deepEqual(
      [listed.versionMin, listed.versionMax],
      [real.versionMin, real.versionMax],
      `API ${listed.apiKey}`,
    );
    assert.equal(handlers.get(listed.apiKey), listed, 'the listener serves the listed entry');
  }
});

test('a request waits for the import and reaches the handler; a failed import is tried again', async () => {
  const ctx = {} as RequestContext;
  let imports = 0;
  const real: ApiHandler = {
    apiKey: ApiKey.EndTxn,
    versionMin: 0,
    versionMax: 4,
    handle: (_ctx, request) => ({ echoed: request }),
  };
  const entry = onFirstUse(
    ApiKey.EndTxn,
    0,
    4,
    async () => {
      imports += 1;
      if (imports === 1) throw new Error('module not readable');
      return { endTxnHandler: real };
    },
    'endTxnHandler',
  );
  await assert.rejects(Promise.resolve(entry.handle(ctx, { n: 1 })), /module not readable/);
  assert.deepEqual(await entry.handle(ctx, { n: 2 }), { echoed: { n: 2 } });
  assert.deepEqual(entry.handle(ctx, { n: 3 }), { echoed: { n: 3 } }, 'loaded: answered at once');
  assert.equal(imports, 2);
  const wrong = onFirstUse(ApiKey.EndTxn, 0, 4, async () => ({ endTxnHandler: real }), 'missing');
  await assert.rejects(Promise.resolve(wrong.handle(ctx, {})), /is not the handler of API/);
});
