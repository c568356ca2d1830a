/**
 * The TLS layer under every listener, on one port with an echo protocol: client certificates per
 * tlsClientAuth, the verified certificate on the transport, reloads, the minimum version, and
 * plaintext on a TLS port.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import type { TlsClientAuth } from '../../src/config/schema.js';
import type { RunningListener } from '../../src/protocols/listener.js';
import { type Acceptor, serveTransports } from '../../src/protocols/serve.js';
import { parseSubjectAltNames, ReloadableTls, type TlsMaterial } from '../../src/protocols/tls.js';
import type { Transport } from '../../src/protocols/transport.js';
import { silentLogger } from '../../src/shared/logger.js';
import { makeTestPki, opensslMissing, plaintextAnswer, type TestPki } from '../../testing/tls.js';

const handshakeTimeoutMs = 5000;

/** Echoes every byte back and remembers each transport it took. */
function echoAcceptor(): Acceptor & { transports: Transport[] } {
  const transports: Transport[] = [];
  return {
    transports,
    accept(transport) {
      transports.push(transport);
      transport.attach({ data: (chunk) => transport.write(chunk), closed: () => {} });
    },
    async close() {
      for (const t of transports) t.destroy();
    },
  };
}

interface EchoServer {
  readonly port: number;
  readonly tls: ReloadableTls;
  readonly acceptor: ReturnType<typeof echoAcceptor>;
  readonly running: RunningListener;
}

function material(pki: TestPki, clientAuth: TlsClientAuth, extra: Partial<TlsMaterial> = {}): TlsMaterial {
  return {
    cert: pki.read(pki.server.cert),
    key: pki.read(pki.server.key),
    ca: pki.read(pki.caFile),
    clientAuth,
    minVersion: 'TLSv1.2',
    ciphers: undefined,
    ...extra,
  };
}

async function echoServer(tls: ReloadableTls): Promise<EchoServer> {
  const acceptor = echoAcceptor();
  const context = { host: '127.0.0.1', port: 0, tls, logger: silentLogger(), config: { handshakeTimeoutMs } };
  const running = await serveTransports(context, acceptor);
  return { port: running.port, tls, acceptor, running };
}

type ClientCert = 'none' | 'client' | 'stranger';

function clientOptions(pki: TestPki, cert: ClientCert) {
  const files = cert === 'client' ? pki.client : cert === 'stranger' ? pki.stranger : undefined;
  return {
    ca: pki.read(pki.caFile),
    ...(files === undefined ? {} : { cert: pki.read(files.cert), key: pki.read(files.key) }),
  };
}

/** Connects, sends `ping`, and resolves with what came back before the server closed or echoed. */
function echoOnce(port: number, options: object): Promise<{ echoed: string; socket: TLSSocket }> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ...options }, () => socket.write('ping'));
    let echoed = '';
    const timer = setTimeout(() => reject(new Error('no answer within 5 s')), 5000);
    socket.on('data', (chunk: Buffer) => {
      echoed += chunk.toString();
      if (echoed === 'ping') {
        clearTimeout(timer);
        resolve({ echoed, socket });
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ echoed, socket });
    });
  });
}

async function echoes(port: number, options: object): Promise<boolean> {
  const { echoed, socket } = await echoOnce(port, options);
  socket.destroy();
  return echoed === 'ping';
}

const skip = opensslMissing;
let pki: TestPki;
before(() => {
  if (skip === undefined) pki = makeTestPki();
});
after(() => pki?.remove());

test('tlsClientAuth none: any client gets in, and no certificate is asked for', { skip }, async () => {
  const server = await echoServer(new ReloadableTls(material(pki, 'none')));
  try {
    assert.ok(await echoes(server.port, clientOptions(pki, 'none')));
    assert.ok(await echoes(server.port, clientOptions(pki, 'client')));
    for (const t of server.acceptor.transports) {
      assert.equal(t.kind, 'tls');
      assert.equal(t.tls?.peerCertificate, undefined, 'none asked for, none exposed');
    }
  } finally {
    await server.running.close();
  }
});

test('tlsClientAuth request: without a certificate in, a verified one exposed, a stranger refused', {
  skip,
}, async () => {
  const server = await echoServer(new ReloadableTls(material(pki, 'request')));
  try {
    assert.ok(await echoes(server.port, clientOptions(pki, 'none')), 'no certificate: let in');
    assert.equal(server.acceptor.transports[0]?.tls?.peerCertificate, undefined);
    assert.ok(await echoes(server.port, clientOptions(pki, 'client')), 'a verified certificate: let in');
    const peer = server.acceptor.transports[1]?.tls?.peerCertificate;
    assert.equal(peer?.commonName, 'alice');
    assert.equal(peer?.subject['O'], 'Switchyard Tests');
    assert.deepEqual(peer?.subjectAltNames, [{ type: 'email', value: 'alice@example.test' }]);
    assert.match(peer?.fingerprint256 ?? '', /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    assert.ok((peer?.der.length ?? 0) > 0);
    assert.equal(await echoes(server.port, clientOptions(pki, 'stranger')), false, 'unverified: refused');
    assert.equal(server.acceptor.transports.length, 2, 'the stranger never reached the protocol');
  } finally {
    await server.running.close();
  }
});

test('tlsClientAuth require: only a verified certificate gets in', { skip }, async () => {
  const server = await echoServer(new ReloadableTls(material(pki, 'require')));
  try {
    assert.equal(await echoes(server.port, clientOptions(pki, 'none')), false);
    assert.equal(await echoes(server.port, clientOptions(pki, 'stranger')), false);
    assert.ok(await echoes(server.port, clientOptions(pki, 'client')));
    assert.equal(server.acceptor.transports.length, 1);
    assert.equal(server.acceptor.transports[0]?.tls?.peerCertificate?.commonName, 'alice');
  } finally {
    await server.running.close();
  }
});

test('tlsMinVersion TLSv1.3 refuses a TLS 1.2 client; the agreed version is on the transport', {
  skip,
}, async () => {
  const server = await echoServer(new ReloadableTls(material(pki, 'none', { minVersion: 'TLSv1.3' })));
  try {
    const old = { ...clientOptions(pki, 'none'), maxVersion: 'TLSv1.2' };
    assert.equal(await echoes(server.port, old), false);
    assert.ok(await echoes(server.port, clientOptions(pki, 'none')));
    assert.equal(server.acceptor.transports[0]?.tls?.protocol, 'TLSv1.3');
    assert.ok((server.acceptor.transports[0]?.tls?.cipher ?? '') !== '');
  } finally {
    await server.running.close();
  }
});

test('a reload serves the new certificate to new connections; an open one keeps going', {
  skip,
}, async () => {
  const server = await echoServer(new ReloadableTls(material(pki, 'none')));
  try {
    const first = await echoOnce(server.port, clientOptions(pki, 'none'));
    assert.equal(first.socket.getPeerCertificate().subject.CN, 'localhost');
    server.tls.replace({
      ...material(pki, 'none'),
      cert: pki.read(pki.renewed.cert),
      key: pki.read(pki.renewed.key),
    });
    const second = await echoOnce(server.port, clientOptions(pki, 'none'));
    assert.equal(second.echoed, 'ping');
    assert.equal(second.socket.getPeerCertificate().subject.CN, 'localhost-renewed');
    second.socket.destroy();
    const again = new Promise<string>((resolve) =>
      first.socket.once('data', (c: Buffer) => resolve(c.toString())),
    );
    first.socket.write('still here');
    assert.equal(await again, 'still here', 'the connection opened before the reload still works');
    first.socket.destroy();
  } finally {
    await server.running.close();
  }
});

test('a reload with a key that does not match its certificate changes nothing', { skip }, async () => {
  const server = await echoServer(new ReloadableTls(material(pki, 'none')));
  try {
    const mismatched = { ...material(pki, 'none'), cert: pki.read(pki.renewed.cert) };
    assert.throws(() => server.tls.replace(mismatched));
    const { socket } = await echoOnce(server.port, clientOptions(pki, 'none'));
    assert.equal(socket.getPeerCertificate().subject.CN, 'localhost');
    socket.destroy();
  } finally {
    await server.running.close();
  }
});

test('plaintext on a TLS port reaches no protocol: the connection closes', { skip }, async () => {
  const server = await echoServer(new ReloadableTls(material(pki, 'none')));
  try {
    const received = await plaintextAnswer(server.port, Buffer.from('AMQP\x00\x00\x09\x01'));
    assert.ok(received.length === 0 || received[0] === 0x15, 'nothing but a TLS alert comes back');
    assert.equal(server.acceptor.transports.length, 0);
  } finally {
    await server.running.close();
  }
});

test('subject alternative names as node:tls writes them, quoted values included', () => {
  assert.deepEqual(parseSubjectAltNames('DNS:a.example, IP Address:127.0.0.1, DNS:"b,c.example"'), [
    { type: 'DNS', value: 'a.example' },
    { type: 'IP Address', value: '127.0.0.1' },
    { type: 'DNS', value: 'b,c.example' },
  ]);
  assert.deepEqual(parseSubjectAltNames(''), []);
});
