/**
 * Logins by client certificate, with certificates made by openssl at run time (testing/tls.ts):
 * AMQP's EXTERNAL mechanism through amqplib and pika (offered only on a TLS connection that presented
 * a verified certificate), MQTT over mqtts and wss with `mqttCertLogin` (the certificate names the
 * user; with `certificate` it stands in for the password), and a JWT as the MQTT password over TLS.
 * The user a certificate names must exist, and its stored permissions apply.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import amqp from 'amqplib';
import mqtt from 'mqtt';
import type { CoreClient } from '../../src/core/api.js';
import { startTestBroker, type TestBroker } from '../../testing/broker.js';
import { makeIssuer, type TestIssuer } from '../../testing/jwt.js';
import {
  type CertFiles,
  makeClientCert,
  makeTestPki,
  opensslMissing,
  type TestPki,
} from '../../testing/tls.js';

const skip = opensslMissing;
let pki: TestPki;
let issuer: TestIssuer;
let bob: CertFiles;
let server: TestBroker;
let core: CoreClient;
let ca: Buffer;

async function startTls(extra: Record<string, unknown>): Promise<TestBroker> {
  return startTestBroker({
    listeners: ['amqp'],
    amqpsPort: 'auto',
    mqttsPort: 'auto',
    mqttWssPort: 'auto',
    tlsCertFile: pki.server.cert,
    tlsKeyFile: pki.server.key,
    tlsCaFile: pki.caFile,
    tlsClientAuth: 'request',
    loginFailuresBeforeDelay: 100_000,
    ...issuer.settings(),
    ...extra,
  });
}

before(async () => {
  if (skip !== undefined) return;
  pki = makeTestPki();
  ca = pki.read(pki.caFile);
  // A certificate the CA signed for a user that does not exist.
  bob = makeClientCert(pki, 'bob', '/CN=bob/O=Switchyard Tests', 'email:bob@example.test');
  issuer = makeIssuer();
  server = await startTls({ mqttCertLogin: 'certificate' });
  core = server.broker.client('/');
  // The test client certificate's CN is `alice`.
  await core.putUser('alice', 'alice-pw', []);
  await core.setPermission('/', 'alice', {
    configure: '^alice\\.',
    write: '^(alice\\..*|amq\\.topic|amq\\.default)$',
    read: '^(alice\\..*|amq\\.topic)$',
  });
});

after(async () => {
  await server?.stop();
  pki?.remove();
  issuer?.remove();
});

const tlsOptions = (cert?: CertFiles) => ({
  ca: [ca],
  ...(cert === undefined ? {} : { cert: pki.read(cert.cert), key: pki.read(cert.key) }),
});

describe('AMQP EXTERNAL', { skip }, () => {
  const external = amqp.credentials.external();

  test('amqplib logs in as the user its certificate names, with that user’s permissions', async () => {
    const connection = await amqp.connect(`amqps://127.0.0.1:${server.broker.ports.amqpsPort}`, {
      ...tlsOptions(pki.client),
      credentials: external,
    });
    connection.on('error', () => {});
    try {
      const ch = await connection.createChannel();
      ch.on('error', () => {});
      await ch.assertQueue('alice.inbox');
      await assert.rejects(
        ch.assertQueue('bob.inbox'),
        /ACCESS_REFUSED - configure access to queue 'bob.inbox' in vhost '\/' refused for user 'alice'/,
      );
    } finally {
      await connection.close().catch(() => {});
    }
  });

  test('EXTERNAL is not offered without a verified certificate, nor on the plain port', async () => {
    await assert.rejects(
      amqp.connect(`amqps://127.0.0.1:${server.broker.ports.amqpsPort}`, {
        ...tlsOptions(),
        credentials: external,
      }),
      /ACCESS_REFUSED|EXTERNAL|mechanism/,
    );
    await assert.rejects(
      amqp.connect(`amqp://127.0.0.1:${server.port('amqp')}`, { credentials: external }),
      /ACCESS_REFUSED|EXTERNAL|mechanism/,
    );
  });

  test('a verified certificate naming no user is refused', async () => {
    await assert.rejects(
      amqp.connect(`amqps://127.0.0.1:${server.broker.ports.amqpsPort}`, {
        ...tlsOptions(bob),
        credentials: external,
      }),
      /ACCESS_REFUSED|403/,
    );
  });

  test('certLoginFrom: the distinguished name or a SAN names the user instead', async () => {
    const byName = await startTls({ certLoginFrom: 'distinguished_name' });
    const bySan = await startTls({ certLoginFrom: 'subject_alternative_name', certLoginSanType: 'email' });
    try {
      for (const [broker, user] of [
        [byName, 'O=Switchyard Tests,CN=alice'],
        [bySan, 'alice@example.test'],
      ] as const) {
        const c = broker.broker.client('/');
        await c.putUser(user, 'pw', []);
        await c.setPermission('/', user, { configure: '.*', write: '.*', read: '.*' });
        const connection = await amqp.connect(`amqps://127.0.0.1:${broker.broker.ports.amqpsPort}`, {
          ...tlsOptions(pki.client),
          credentials: external,
        });
        const ch = await connection.createChannel();
        await ch.assertQueue(`by-${user.length}`);
        await connection.close();
      }
    } finally {
      await byName.stop();
      await bySan.stop();
    }
  });

  const pikaMissing = (() => {
    try {
      execFileSync('/usr/bin/python3', ['-c', 'import pika'], { stdio: 'ignore' });
      return undefined;
    } catch {
      return 'pika is not installed for /usr/bin/python3';
    }
  })();

  test('pika logs in with EXTERNAL over TLS', { skip: pikaMissing }, async () => {
    const script = `
import ssl, sys, pika
context = ssl.create_default_context(cafile=sys.argv[2])
context.load_cert_chain(sys.argv[3], sys.argv[4])
params = pika.ConnectionParameters(host='127.0.0.1', port=int(sys.argv[1]),
    ssl_options=pika.SSLOptions(context, 'localhost'), credentials=pika.credentials.ExternalCredentials())
connection = pika.BlockingConnection(params)
channel = connection.channel()
channel.queue_declare(queue='alice.from-pika')
channel.basic_publish(exchange='', routing_key='alice.from-pika', body=b'hi')
connection.close()
print('ok')
`;
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        '/usr/bin/python3',
        ['-c', script, String(server.broker.ports.amqpsPort), pki.caFile, pki.client.cert, pki.client.key],
        { timeout: 20_000 },
        (err, stdout, stderr) =>
          err === null ? resolve(stdout) : reject(new Error(`${err.message}\n${stderr}`)),
      ),
    );
    assert.equal(out.trim(), 'ok');
    assert.equal(core.checkQueue('alice.from-pika').messageCount, 1);
  });
});

describe('MQTT over TLS', { skip }, () => {
  const mqttsUrl = () => `mqtts://127.0.0.1:${server.broker.ports.mqttsPort}`;
  const wssUrl = () => `wss://127.0.0.1:${server.broker.ports.mqttWssPort}/mqtt`;

  test('mqttCertLogin certificate: a verified certificate alone logs in as its user (mqtts and wss)', async () => {
    for (const url of [mqttsUrl(), wssUrl()]) {
      const client = await mqtt.connectAsync(url, {
        ...tlsOptions(pki.client),
        protocolVersion: 5,
        reconnectPeriod: 0,
      });
      try {
        // alice may write amq.topic and has no topic permission: any key goes.
        await client.publishAsync('alice/status', 'up', { qos: 1 });
      } finally {
        await client.endAsync();
      }
    }
    // The user must exist: bob's certificate verifies, and names nobody.
    await assert.rejects(
      mqtt.connectAsync(mqttsUrl(), { ...tlsOptions(bob), protocolVersion: 5, reconnectPeriod: 0 }),
      /Bad User Name or Password|Not authorized|134|135/,
    );
  });

  test('mqttCertLogin username: the certificate names the user whatever CONNECT says; the password is checked', async () => {
    const named = await startTls({ mqttCertLogin: 'username' });
    try {
      const c = named.broker.client('/');
      await c.putUser('alice', 'alice-pw', []);
      await c.setPermission('/', 'alice', { configure: '.*', write: '.*', read: '.*' });
      const url = `mqtts://127.0.0.1:${named.broker.ports.mqttsPort}`;
      const options = { ...tlsOptions(pki.client), protocolVersion: 5 as const, reconnectPeriod: 0 };
      const client = await mqtt.connectAsync(url, { ...options, username: 'mallory', password: 'alice-pw' });
      await client.endAsync();
      await assert.rejects(
        mqtt.connectAsync(url, { ...options, username: 'alice', password: 'wrong' }),
        /Bad User Name or Password|134/,
      );
      await assert.rejects(mqtt.connectAsync(url, options), /Bad User Name or Password|134/);
    } finally {
      await named.stop();
    }
  });

  test('a JWT as the password over mqtts', async () => {
    const token = issuer.token({
      sub: 'device-7',
      scope: 'switchyard.write:%2F/amq.topic/devices.7.* switchyard.read:%2F/amq.topic/*',
    });
    // Without a client certificate: the token is the credential.
    const client = await mqtt.connectAsync(mqttsUrl(), {
      ca,
      protocolVersion: 5,
      username: 'x',
      password: token,
      reconnectPeriod: 0,
    });
    try {
      await client.publishAsync('devices/7/temp', '21', { qos: 1 });
      await assert.rejects(client.publishAsync('devices/8/temp', '21', { qos: 1 }), /Not authorized|135/);
    } finally {
      await client.endAsync();
    }
  });
});
