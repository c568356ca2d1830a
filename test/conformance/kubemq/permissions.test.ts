/**
 * The KubeMQ front end under the one permission model, through kubemq-js: the `authorization` token
 * `Basic <base64 of user:password>` logs in as that user, a wrong one is UNAUTHENTICATED, and the
 * user's permissions decide its channels (events: topic permissions on amq.topic; queues: read on the
 * queue, write on the default exchange as in AMQP). Nothing refused is stored.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { EventsClient, QueuesClient } from 'kubemq-js';
import type { CoreClient } from '../../../src/core/api.js';
import {
  clientId,
  type KubemqTestBroker,
  rest,
  startKubemqBroker,
  utf8,
} from '../../../testing/kubemq-harness.js';
import { basicAuth } from '../../../testing/server-helpers.js';

let server: KubemqTestBroker;
let core: CoreClient;

before(async () => {
  server = await startKubemqBroker();
  core = server.broker.client('/');
  await core.putUser('svc', 'svc-pw', []);
  await core.putUser('nobody', 'nobody-pw', []);
  const permission = { configure: '', write: '^(amq\\.topic|amq\\.default)$', read: '^(amq\\.topic|jobs)$' };
  await core.setPermission('/', 'svc', permission);
  await core.setTopicPermission('/', 'svc', 'amq.topic', { write: '^svc\\.', read: '^svc\\.' });
  core.declareQueue('watch', { durable: false });
  core.bindQueue('watch', 'amq.topic', '#');
});

after(() => server.stop());

const options = (token: string) => ({
  address: server.address,
  clientId: clientId('perm'),
  reconnectInterval: 0,
  authToken: token,
});
const watched = () => core.checkQueue('watch').messageCount;

test('events: the user sends under its topic permission and is refused elsewhere', async () => {
  const events = new EventsClient(options(basicAuth('svc', 'svc-pw')));
  try {
    const before = watched();
    await assert.rejects(events.send({ channel: 'other.x', body: utf8('no') }), /access to topic 'other.x'/);
    const sent = await events.send({ channel: 'svc.x', body: utf8('yes') });
    assert.equal(sent.sent, true);
    assert.equal(watched(), before + 1);
  } finally {
    events.close();
  }
});

test('queues: receiving needs read on the queue', async () => {
  core.declareQueue('jobs', { durable: true });
  core.declareQueue('private', { durable: true });
  const queues = new QueuesClient(options(basicAuth('svc', 'svc-pw')));
  try {
    assert.equal((await queues.send({ channel: 'jobs', body: utf8('job') })).isError, false);
    const pulled = await queues.pull({ channel: 'jobs', maxNumberOfMessages: 1, waitTimeoutSeconds: 1 });
    assert.equal(pulled.messages.length, 1);
    // KubeMQ answers a receive's failure in the response's error field.
    const refused = await queues.pull({ channel: 'private', maxNumberOfMessages: 1, waitTimeoutSeconds: 1 });
    assert.equal(refused.isError, true);
    assert.match(refused.error, /read access to queue 'private'/);
    assert.equal(core.checkQueue('private').messageCount, 0);
  } finally {
    queues.close();
  }
});

test('a wrong token is refused as unauthenticated; a user without vhost permissions as denied', async () => {
  for (const [token, expected] of [
    [basicAuth('svc', 'wrong'), /UNAUTHENTICATED|login refused/],
    ['Bearer not-a-jwt', /UNAUTHENTICATED|Basic/],
    [basicAuth('nobody', 'nobody-pw'), /PERMISSION_DENIED|access to vhost/],
  ] as const) {
    const events = new EventsClient(options(token));
    try {
      await assert.rejects(events.send({ channel: 'svc.x', body: utf8('no') }), expected);
    } finally {
      events.close();
    }
  }
});

test('REST: the Authorization header logs in; refused logins answer 401', async () => {
  const body = { Channel: 'svc.rest', Body: Buffer.from('r').toString('base64'), ClientID: 'r1' };
  const refused = await rest(server.rest, '/send/event', body, 'POST', {
    authorization: basicAuth('svc', 'wrong'),
  });
  assert.equal(refused.status, 401);
  const sent = await rest(server.rest, '/send/event', body, 'POST', {
    authorization: basicAuth('svc', 'svc-pw'),
  });
  assert.equal(sent.status, 200);
  const denied = await rest(server.rest, '/send/event', { ...body, Channel: 'other.rest' }, 'POST', {
    authorization: basicAuth('svc', 'svc-pw'),
  });
  assert.equal(denied.status, 403);
});
