/**
 * SCRAM credentials in the definitions file: exported beside `password_hash`, imported back exactly,
 * so a user made only through Kafka's AlterUserScramCredentials survives and can still log in with
 * SCRAM; ill-formed credentials refuse the whole import before anything is written.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { exportDefinitions, importDefinitions } from '../../src/admin/manage.js';
import type { CoreClient } from '../../src/core/api.js';
import { type ScramCredentials, scramCredentialsOf } from '../../src/core/scram.js';
import { ScramServerExchange } from '../../src/server/scram.js';
import { startTestBroker } from '../../testing/broker.js';
import { ScramClient } from '../../testing/scram-client.js';

/** A SCRAM-SHA-512 login against `core`'s stored credentials, as the login gate runs it. */
function scramLogin(core: CoreClient, user: string, password: string): boolean {
  const exchange = new ScramServerExchange(
    'SCRAM-SHA-512',
    (name) => core.scramCredentials(name)?.['SCRAM-SHA-512'],
  );
  const client = new ScramClient('sha512', user, password);
  const first = exchange.first(client.first());
  assert.ok(first.ok);
  return exchange.final(client.final(first.serverFirst)).ok;
}

/** Credentials with their bytes as base64, to compare whatever kind of array holds them. */
function base64Of(credentials: ScramCredentials | undefined) {
  const text = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
  return Object.entries(credentials ?? {}).map(([mechanism, c]) => ({
    mechanism,
    iterations: c.iterations,
    salt: text(c.salt),
    storedKey: text(c.storedKey),
    serverKey: text(c.serverKey),
  }));
}

test('definitions: SCRAM credentials export beside password_hash and import back', async () => {
  const source = await startTestBroker();
  const from = source.broker.client('/');
  const made = await scramCredentialsOf('kafka-pw', 8192);
  await from.setScramCredential('kafka-only', 'SCRAM-SHA-512', made['SCRAM-SHA-512']!);
  await from.putUser('both', 'both-pw', ['monitoring']);
  const file = exportDefinitions(from, 'test');
  const users = file['users'] as Array<Record<string, unknown>>;
  const kafkaOnly = users.find((u) => u['name'] === 'kafka-only')!;
  assert.equal(kafkaOnly['password_hash'], '');
  const sha512 = (kafkaOnly['scram_credentials'] as Record<string, Record<string, unknown>>)[
    'SCRAM-SHA-512'
  ]!;
  assert.deepEqual(Object.keys(kafkaOnly['scram_credentials'] as object), ['SCRAM-SHA-512']);
  assert.equal(sha512['iterations'], 8192);
  assert.equal(sha512['salt'], Buffer.from(made['SCRAM-SHA-512']!.salt).toString('base64'));
  const both = users.find((u) => u['name'] === 'both')!;
  assert.deepEqual(Object.keys(both['scram_credentials'] as object), ['SCRAM-SHA-256', 'SCRAM-SHA-512']);
  const expected = { kafkaOnly: from.scramCredentials('kafka-only'), both: from.scramCredentials('both') };
  await source.stop();

  const target = await startTestBroker();
  const to = target.broker.client('/');
  await importDefinitions(to, JSON.parse(JSON.stringify(file)));
  assert.deepEqual(base64Of(to.scramCredentials('kafka-only')), base64Of(expected.kafkaOnly));
  assert.deepEqual(base64Of(to.scramCredentials('both')), base64Of(expected.both));
  assert.equal(
    scramLogin(to, 'kafka-only', 'kafka-pw'),
    true,
    'the Kafka-made user logs in after the import',
  );
  assert.equal(scramLogin(to, 'kafka-only', 'wrong'), false);
  assert.equal(scramLogin(to, 'both', 'both-pw'), true);
  assert.equal(await to.verifyUser('both', 'both-pw'), true, 'the password hash came too');

  // The file is what the user has: a mechanism left out of it is removed.
  const only512 = { users: [{ ...both, scram_credentials: { 'SCRAM-SHA-512': sha512 } }] };
  await importDefinitions(to, JSON.parse(JSON.stringify(only512)));
  assert.deepEqual(Object.keys(to.scramCredentials('both') ?? {}), ['SCRAM-SHA-512']);
  await target.stop();
});

test('definitions: ill-formed SCRAM credentials refuse the import before anything is written', async () => {
  const broker = await startTestBroker();
  const core = broker.broker.client('/');
  const good = {
    salt: 'c2FsdA==',
    iterations: 4096,
    stored_key: Buffer.alloc(32).toString('base64'),
    server_key: Buffer.alloc(32).toString('base64'),
  };
  const cases: Array<[string, unknown, RegExp]> = [
    ['an unknown mechanism', { 'SCRAM-SHA-1': good }, /Unknown SCRAM mechanism/],
    ['too few iterations', { 'SCRAM-SHA-256': { ...good, iterations: 1 } }, /iterations/],
    ['a key of the wrong length', { 'SCRAM-SHA-512': good }, /stored_key/],
    ['a salt not base64', { 'SCRAM-SHA-256': { ...good, salt: 'no!' } }, /salt/],
    ['not an object', [], /must be an object/],
  ];
  for (const [what, scram, reason] of cases) {
    const file = { users: [{ name: `u-${what}`, password_hash: '', scram_credentials: scram }] };
    await assert.rejects(importDefinitions(core, file as never), reason, what);
    assert.equal(core.getUser(`u-${what}`), undefined, `${what}: no user written`);
  }
  await broker.stop();
});
