/**
 * JWT bearer tokens through real clients: amqplib with the token as its password (PLAIN and AMQPLAIN,
 * any user name) and connection.update-secret, mqtt.js with the token as its password, fetch with
 * `Authorization: Bearer` on the admin API, kubemq-js with the token as its `authToken` (bare and
 * `Bearer …`), and the REST API. The token's scopes are the permissions: what they allow goes through,
 * what they do not is refused with each protocol's own refusal, and nothing refused is stored. Refused
 * tokens (expired, wrong audience, bad signature, `alg: none`, HMAC over the public key) are refused
 * logins, logged as such. Expiry runs on a manual clock: an open connection is closed when its token
 * expires, unless AMQP's update-secret brought a fresh one.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import amqp from 'amqplib';
import { EventsClient, QueuesClient } from 'kubemq-js';
import mqtt from 'mqtt';
import { pino } from 'pino';
import type { CoreClient } from '../../src/core/api.js';
import { ManualClock } from '../../src/shared/clock.js';
import { startTestBroker, type TestBroker } from '../../testing/broker.js';
import { makeIssuer, type TestIssuer } from '../../testing/jwt.js';
import { rest, utf8 } from '../../testing/kubemq-harness.js';
import { until } from '../../testing/wait.js';

/** What the `app` token may do: RabbitMQ's scope grammar, prefixed with the resource server id. */
const appScopes = [
  'switchyard.configure:%2F/app.*',
  'switchyard.write:%2F/app.*',
  'switchyard.read:%2F/app.*',
  // The default exchange, for AMQP and KubeMQ queue sends; amq.topic with routing keys under app.
  'switchyard.write:%2F/amq.default',
  'switchyard.write:%2F/amq.topic/app.*',
  'switchyard.read:%2F/amq.topic/app.*',
  'switchyard.tag:management',
  'openid',
];

let issuer: TestIssuer;
let server: TestBroker;
let core: CoreClient;
const refusals: Array<{ user?: string; reason?: string }> = [];

before(async () => {
  issuer = makeIssuer();
  const logger = pino(
    { level: 'warn' },
    {
      write: (line: string) => {
        const entry = JSON.parse(line) as { msg?: string; user?: string; reason?: string };
        if (entry.msg === 'login refused') refusals.push(entry);
      },
    },
  );
  server = await startTestBroker({
    listeners: ['amqp', 'mqtt', 'http', 'grpc', 'rest'],
    logger,
    // Refused tokens count as failed logins: the many refused on purpose here must not slow the rest.
    loginFailuresBeforeDelay: 100_000,
    ...issuer.settings(),
  });
  core = server.broker.client('/');
  core.declareQueue('watch.topic', { durable: false });
  core.bindQueue('watch.topic', 'amq.topic', '#');
});

after(async () => {
  await server?.stop();
  issuer?.remove();
});

const appToken = (claims: Record<string, unknown> = {}, options = {}) =>
  issuer.token({ sub: 'app', scope: appScopes.join(' '), ...claims }, options);
const amqpUrl = (user: string, password: string) =>
  `amqp://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${server.port('amqp')}`;
const queued = (name: string) => core.checkQueue(name).messageCount;

/** The forged or spoiled tokens every protocol must refuse, and the reason the gate logs for each. */
function badTokens(): Array<[string, string, string]> {
  const good = appToken();
  const [h, p] = good.split('.');
  const forgedClaims = Buffer.from(
    JSON.stringify({ sub: 'app', aud: 'switchyard', exp: 4_000_000_000, scope: 'switchyard.read:*/*' }),
  ).toString('base64url');
  return [
    ['expired', appToken({ exp: Math.floor(Date.now() / 1000) - 3600 }), 'token: expired'],
    ['wrong audience', appToken({ aud: 'another-service' }), 'token: audience'],
    ['bad signature', `${h}.${forgedClaims}.${good.split('.')[2]}`, 'token: signature'],
    ['alg none', issuer.unsigned({ scope: appScopes.join(' ') }), 'token: algorithm'],
    ['HMAC over the public key', issuer.confused({ scope: appScopes.join(' ') }), 'token: key_mismatch'],
    ['a password-shaped garbage token', `${h}.${p}.`, 'token: malformed'],
  ];
}

describe('AMQP', () => {
  test('amqplib logs in with the token as its password (PLAIN, any user name) and works within its scopes', async () => {
    const connection = await amqp.connect(amqpUrl('anyone', appToken()));
    try {
      const ch = await connection.createConfirmChannel();
      await ch.assertQueue('app.jobs', { durable: true });
      ch.sendToQueue('app.jobs', Buffer.from('job 1'), { persistent: true });
      await ch.waitForConfirms();
      const got = await ch.get('app.jobs', { noAck: true });
      assert.equal(got === false ? undefined : got.content.toString(), 'job 1');
    } finally {
      await connection.close();
    }
  });

  test('AMQPLAIN carries the token too, with an empty user name', async () => {
    const connection = await amqp.connect(`amqp://127.0.0.1:${server.port('amqp')}`, {
      credentials: amqp.credentials.amqplain('', appToken()),
    });
    await connection.close();
  });

  test('what the scopes do not allow is 403 ACCESS_REFUSED, and nothing is stored', async () => {
    core.declareQueue('orders', { durable: true });
    const connection = await amqp.connect(amqpUrl('app', appToken()));
    connection.on('error', () => {});
    try {
      const declare = await connection.createChannel();
      declare.on('error', () => {});
      await assert.rejects(
        declare.assertQueue('orders.new'),
        /ACCESS_REFUSED - configure access to queue 'orders.new'/,
      );
      const publish = await connection.createConfirmChannel();
      publish.on('error', () => {});
      const before = queued('watch.topic');
      publish.publish('amq.topic', 'other.key', Buffer.from('no'));
      await assert.rejects(publish.waitForConfirms());
      assert.equal(queued('watch.topic'), before);
      const send = await connection.createConfirmChannel();
      send.on('error', () => {});
      send.publish('amq.topic', 'app.key', Buffer.from('yes'));
      await send.waitForConfirms();
      assert.equal(queued('watch.topic'), before + 1);
      const read = await connection.createChannel();
      read.on('error', () => {});
      await assert.rejects(read.get('orders'), /ACCESS_REFUSED - read access to queue 'orders'/);
    } finally {
      await connection.close().catch(() => {});
    }
  });

  test('refused tokens: expired, wrong audience, bad signature, alg none, HMAC-with-public-key', async () => {
    for (const [what, token, reason] of badTokens()) {
      refusals.length = 0;
      await assert.rejects(amqp.connect(amqpUrl('app', token)), /ACCESS_REFUSED|403/, what);
      await until(() => refusals.some((r) => r.reason === reason), 2000, `${what}: logged as ${reason}`);
    }
    // Counted as failed logins of the address, as wrong passwords are.
    assert.ok(server.broker.loginStats().throttledAddresses >= 1);
  });

  test('update-secret takes a refreshed token of the same user; another user closes with 530', async () => {
    const narrow = issuer.token({ sub: 'app', scope: 'switchyard.read:%2F/app.*' });
    const connection = await amqp.connect(amqpUrl('app', narrow));
    const closed = new Promise<Error>((resolve) => connection.on('error', resolve));
    const ch = await connection.createChannel();
    ch.on('error', () => {});
    await connection.updateSecret(Buffer.from(appToken()), 'refresh');
    // The new scopes apply from the next command on: configure is granted now.
    await ch.assertQueue('app.refreshed');
    // amqplib never settles this one: the connection closes instead of answering.
    void connection.updateSecret(Buffer.from(appToken({ sub: 'mallory' })), 'swap').catch(() => {});
    assert.match(String(await closed), /530|NOT_ALLOWED - Not allowed to change username/);
  });
});

describe('MQTT', () => {
  test('mqtt.js logs in with the token as its password; publishes and subscriptions follow the topic scopes', async () => {
    const url = `mqtt://127.0.0.1:${server.port('mqtt')}`;
    const client = await mqtt.connectAsync(url, {
      protocolVersion: 5,
      username: 'ignored',
      password: appToken(),
      reconnectPeriod: 0,
    });
    try {
      await client.subscribeAsync('app/in', { qos: 1 });
      // SUBACK 0x87 Not authorized, which mqtt.js reports as a failed subscribe.
      await assert.rejects(client.subscribeAsync('other/in', { qos: 1 }), /Not authorized/);
      const got = new Promise<string>((resolve) =>
        client.once('message', (_t, payload) => resolve(payload.toString())),
      );
      await client.publishAsync('app/in', 'hello', { qos: 1 });
      assert.equal(await got, 'hello');
      const before = queued('watch.topic');
      await assert.rejects(client.publishAsync('other/out', 'no', { qos: 1 }), /Not authorized|135/);
      assert.equal(queued('watch.topic'), before);
    } finally {
      await client.endAsync();
    }
  });

  test('a refused token is CONNACK 0x86 Bad user name or password', async () => {
    const url = `mqtt://127.0.0.1:${server.port('mqtt')}`;
    for (const [what, token] of badTokens()) {
      await assert.rejects(
        mqtt.connectAsync(url, { protocolVersion: 5, username: 'app', password: token, reconnectPeriod: 0 }),
        /Bad User Name or Password|134/,
        what,
      );
    }
  });
});

describe('admin API', () => {
  const api = (path: string, token: string | undefined, init: RequestInit = {}) =>
    fetch(`${server.url('http')}${path}`, {
      ...init,
      headers: {
        ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
        'content-type': 'application/json',
      },
    });

  test('Bearer logs in as the token says: its user, its tags, its vhosts and its scopes', async () => {
    const whoami = await api('/api/whoami', appToken());
    assert.equal(whoami.status, 200);
    const me = (await whoami.json()) as { name: string; tags: string[] };
    assert.equal(me.name, 'app');
    assert.deepEqual(me.tags, ['management']);
    const allowed = await api('/api/queues/%2F/app.from-http', appToken(), { method: 'PUT', body: '{}' });
    assert.ok(allowed.status === 201 || allowed.status === 204, String(allowed.status));
    const refused = await api('/api/queues/%2F/orders.from-http', appToken(), { method: 'PUT', body: '{}' });
    assert.equal(refused.status, 403);
    assert.throws(() => core.checkQueue('orders.from-http'));
    const listed = (await (await api('/api/queues', appToken())).json()) as Array<{ name: string }>;
    assert.ok(listed.some((q) => q.name === 'app.from-http'));
  });

  test('a token without a management tag is 403; a refused one 401 with a Bearer challenge', async () => {
    const plain = issuer.token({ sub: 'app', scope: 'switchyard.read:*/*' });
    assert.equal((await api('/api/overview', plain)).status, 403);
    for (const [what, token] of badTokens()) {
      const response = await api('/api/overview', token);
      assert.equal(response.status, 401, what);
      assert.match(response.headers.get('www-authenticate') ?? '', /^Bearer /, what);
    }
  });
});

describe('KubeMQ', () => {
  const options = (authToken: string) => ({
    address: server.url('grpc'),
    clientId: `jwt-${Math.random().toString(36).slice(2)}`,
    reconnectInterval: 0,
    authToken,
  });

  test('kubemq-js sends events and queue messages with a bare JWT and with `Bearer <jwt>`', async () => {
    for (const token of [appToken(), `Bearer ${appToken()}`]) {
      const events = new EventsClient(options(token));
      const queues = new QueuesClient(options(token));
      try {
        const before = queued('watch.topic');
        assert.equal((await events.send({ channel: 'app.created', body: utf8('e') })).sent, true);
        assert.equal(queued('watch.topic'), before + 1);
        await assert.rejects(
          events.send({ channel: 'other.created', body: utf8('no') }),
          /access to topic 'other.created'/,
        );
        assert.equal(queued('watch.topic'), before + 1);
        assert.equal((await queues.send({ channel: 'app.kube', body: utf8('q') })).isError, false);
        const pulled = await queues.pull({
          channel: 'app.kube',
          maxNumberOfMessages: 1,
          waitTimeoutSeconds: 1,
        });
        assert.equal(pulled.messages.length, 1);
      } finally {
        events.close();
        queues.close();
      }
    }
  });

  test('refused tokens are UNAUTHENTICATED over gRPC and 401 over REST', async () => {
    for (const [what, token] of badTokens()) {
      const events = new EventsClient(options(token));
      try {
        await assert.rejects(
          events.send({ channel: 'app.x', body: utf8('no') }),
          /UNAUTHENTICATED|refused/,
          what,
        );
      } finally {
        events.close();
      }
      const body = { Channel: 'app.rest', Body: Buffer.from('r').toString('base64'), ClientID: 'r1' };
      const refused = await rest(server.url('rest'), '/send/event', body, 'POST', {
        authorization: `Bearer ${token}`,
      });
      assert.equal(refused.status, 401, what);
    }
    const body = { Channel: 'app.rest', Body: Buffer.from('r').toString('base64'), ClientID: 'r1' };
    const sent = await rest(server.url('rest'), '/send/event', body, 'POST', {
      authorization: `Bearer ${appToken()}`,
    });
    assert.equal(sent.status, 200);
  });
});

describe('expiry, on a manual clock', () => {
  const clock = new ManualClock();
  let timed: TestBroker;
  let timedIssuer: TestIssuer;

  before(async () => {
    timedIssuer = makeIssuer(() => clock.now());
    timed = await startTestBroker({
      listeners: ['amqp', 'mqtt', 'grpc'],
      clock,
      ...timedIssuer.settings({ jwtLeewaySeconds: 0 }),
    });
  });
  after(async () => {
    await timed?.stop();
    timedIssuer?.remove();
  });

  const shortToken = (seconds: number, sub = 'app') =>
    timedIssuer.token({ sub, scope: appScopes.join(' '), exp: Math.floor(clock.now() / 1000) + seconds });

  test('an AMQP connection is closed with 403 when its token expires; update-secret moves the end', async () => {
    const url = (token: string) => `amqp://app:${token}@127.0.0.1:${timed.port('amqp')}?heartbeat=0`;
    const expiring = await amqp.connect(url(shortToken(20)));
    const refreshed = await amqp.connect(url(shortToken(20)));
    const closed = new Promise<Error>((resolve) => expiring.on('error', resolve));
    const stillOpen = new Promise<Error>((resolve) => refreshed.on('error', resolve));
    await refreshed.updateSecret(Buffer.from(shortToken(50)), 'refresh');
    clock.advance(21_000);
    assert.match(String(await closed), /403|credential expired/);
    const ch = await refreshed.createChannel();
    await ch.assertQueue('app.still-here');
    clock.advance(30_000);
    assert.match(String(await stillOpen), /403|credential expired/);
  });

  test('an MQTT v5 connection gets DISCONNECT 0x87 when its token expires', async () => {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${timed.port('mqtt')}`, {
      protocolVersion: 5,
      password: shortToken(20),
      username: 'x',
      reconnectPeriod: 0,
      keepalive: 0,
    });
    const disconnect = new Promise<number | undefined>((resolve) =>
      client.once('disconnect', (packet) => resolve(packet.reasonCode)),
    );
    clock.advance(21_000);
    assert.equal(await disconnect, 0x87);
    await client.endAsync(true);
  });

  test('a KubeMQ subscription ends UNAUTHENTICATED when its token expires', async () => {
    const events = new EventsClient({
      address: timed.url('grpc'),
      clientId: 'expiring-subscriber',
      reconnectInterval: 0,
      authToken: shortToken(20),
    });
    let resolveEnded: (text: string) => void = () => {};
    const ended = new Promise<string>((resolve) => {
      resolveEnded = resolve;
    });
    // kubemq-js polls a subscription until it is unsubscribed, whatever happened to its stream.
    const subscription = await events.subscribe({ channel: 'app.watch' }, (err) => {
      if (err !== null) resolveEnded(String(err));
    });
    // The subscription is open once core has its queue bound to amq.topic.
    const timedCore = timed.broker.client('/');
    await until(
      () => timedCore.listBindings().some((b) => b.source === 'amq.topic' && b.routingKey === 'app.watch'),
      5000,
      'subscribed',
    );
    clock.advance(21_000);
    assert.match(await ended, /UNAUTHENTICATED|token expired/);
    subscription.unsubscribe();
    events.close();
  });
});
