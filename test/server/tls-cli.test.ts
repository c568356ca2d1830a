/**
 * `switchyard start` with the TLS flags: SIGHUP re-reads the certificate files, new connections see
 * the new certificate and a connection opened before keeps working; a broken file at reload keeps
 * the old certificate; a certificate that cannot be read stops the start with one line.
 */
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import mqtt from 'mqtt';
import { listenerFlags, runCli, startCli } from '../../testing/server-cli.js';
import { until } from '../../testing/server-helpers.js';
import { makeTestPki, opensslMissing, type TestPki } from '../../testing/tls.js';

const skip = opensslMissing;
let pki: TestPki;
before(() => {
  if (skip === undefined) pki = makeTestPki();
});
after(() => pki?.remove());

/** The CN of the certificate a new connection to `port` is served. */
function servedName(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca: pki.read(pki.caFile) }, () => {
      const cn = socket.getPeerCertificate().subject.CN;
      socket.destroy();
      resolve(String(cn));
    });
    socket.on('error', reject);
  });
}

test('SIGHUP serves the renewed certificate to new connections and keeps the open ones', {
  skip,
}, async () => {
  const cert = join(pki.dir, 'served.crt');
  const key = join(pki.dir, 'served.key');
  copyFileSync(pki.server.cert, cert);
  copyFileSync(pki.server.key, key);
  const dataDir = join(pki.dir, 'data');
  const tls = ['--tls-cert-file', cert, '--tls-key-file', key];
  const cli = await startCli([...listenerFlags({ mqtts: 'auto' }), ...tls, '--data-dir', dataDir]);
  let client: mqtt.MqttClient | undefined;
  try {
    const port = cli.ports.mqtts!;
    assert.equal(await servedName(port), 'localhost');
    client = await mqtt.connectAsync(`mqtts://127.0.0.1:${port}`, {
      ca: pki.read(pki.caFile),
      reconnectPeriod: 0,
    });
    const got: string[] = [];
    client.on('message', (_topic, payload) => got.push(payload.toString()));
    await client.subscribeAsync('reload/t', { qos: 1 });

    // A key that does not match: the reload fails and the old certificate stays.
    copyFileSync(pki.renewed.cert, cert);
    process.kill(cli.pid!, 'SIGHUP');
    await until(() => cli.stderr().includes('tls reload failed'), 10_000);
    assert.equal(await servedName(port), 'localhost');

    copyFileSync(pki.renewed.key, key);
    process.kill(cli.pid!, 'SIGHUP');
    await until(() => cli.stderr().includes('tls certificate reloaded'), 10_000);
    assert.equal(await servedName(port), 'localhost-renewed');

    await client.publishAsync('reload/t', 'after reload', { qos: 1 });
    await until(() => got.length === 1, 10_000);
    assert.deepEqual(got, ['after reload'], 'the connection opened before the reload still works');
  } finally {
    await client?.endAsync();
    const result = await cli.stop();
    assert.equal(result.code, 0, result.stderr);
  }
});

test('a certificate file that cannot be read stops the start with one line', { skip }, async () => {
  const missing = join(pki.dir, 'absent.crt');
  const result = await runCli([
    'start',
    ...listenerFlags({}),
    '--tls-cert-file',
    missing,
    '--tls-key-file',
    pki.server.key,
  ]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /cannot start: tlsCertFile .*absent\.crt cannot be read/);
});

test('tlsClientAuth without a CA, or a certificate without its key, is a usage error', { skip }, async () => {
  const noCa = await runCli([
    'start',
    '--tls-cert-file',
    pki.server.cert,
    '--tls-key-file',
    pki.server.key,
    '--tls-client-auth',
    'require',
  ]);
  assert.equal(noCa.code, 2);
  assert.match(noCa.stderr, /tlsClientAuth require needs .*tlsCaFile/);
  const noKey = await runCli(['start', '--tls-cert-file', pki.server.cert]);
  assert.equal(noKey.code, 2);
  assert.match(noKey.stderr, /tlsCertFile and tlsKeyFile must be given together/);
});
