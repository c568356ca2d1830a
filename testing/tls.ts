/**
 * Test certificates made at run time with the `openssl` command (no key is ever committed): a CA, a
 * server certificate for localhost / 127.0.0.1 / ::1, a second server certificate from the same CA
 * (for reloads), a client certificate the CA signed and one from a CA the broker does not trust.
 * Elliptic-curve keys, so making them takes milliseconds. Tests skip with a message when openssl
 * is absent (`opensslMissing`). Also: what a TLS port answers to plaintext.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const validDays = '2';

function openssl(args: readonly string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Undefined when openssl runs; otherwise why a TLS test skips. */
export const opensslMissing: string | undefined = (() => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'openssl is not installed (Debian package openssl)';
  }
})();

export interface CertFiles {
  readonly cert: string;
  readonly key: string;
}

export interface TestPki {
  readonly dir: string;
  /** The CA file a client trusts and the broker checks client certificates against. */
  readonly caFile: string;
  readonly server: CertFiles;
  /** A second server certificate (another key, CN `localhost-renewed`) from the same CA. */
  readonly renewed: CertFiles;
  /** A client certificate with CN `alice` and a SAN `email:alice@example.test`. */
  readonly client: CertFiles;
  /** A client certificate from a CA the broker does not trust (CN `mallory`). */
  readonly stranger: CertFiles;
  /** The file's bytes (for client options that take PEM rather than a path). */
  read(path: string): Buffer;
  remove(): void;
}

function makeCa(dir: string, name: string): void {
  openssl(
    [
      ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'],
      ...['-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', validDays, '-subj', `/CN=${name}`],
      ...['-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
    ],
    dir,
  );
}

function makeLeaf(dir: string, name: string, ca: string, subject: string, extensions: string): CertFiles {
  openssl(
    [
      ...['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'],
      ...['-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject],
    ],
    dir,
  );
  writeFileSync(join(dir, `${name}.ext`), `${extensions}\nbasicConstraints=CA:FALSE\n`);
  openssl(
    [
      ...['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial'],
      ...['-out', `${name}.crt`, '-days', validDays, '-extfile', `${name}.ext`],
    ],
    dir,
  );
  return { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
}

const serverExtensions = 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nextendedKeyUsage=serverAuth';
const clientExtensions = 'subjectAltName=email:alice@example.test\nextendedKeyUsage=clientAuth';

/** A fresh CA and certificates in a new temporary folder; `remove()` deletes it. */
export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-pki-'));
  makeCa(dir, 'ca');
  makeCa(dir, 'other-ca');
  return {
    dir,
    caFile: join(dir, 'ca.crt'),
    server: makeLeaf(dir, 'server', 'ca', '/CN=localhost', serverExtensions),
    renewed: makeLeaf(dir, 'renewed', 'ca', '/CN=localhost-renewed', serverExtensions),
    client: makeLeaf(dir, 'client', 'ca', '/CN=alice/O=Switchyard Tests', clientExtensions),
    stranger: makeLeaf(dir, 'stranger', 'other-ca', '/CN=mallory', clientExtensions),
    read: (path) => readFileSync(path),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * Another client certificate from the test CA: `subject` as openssl's `-subj` (`/CN=bob/O=Acme`),
 * `sans` as an extension value (`email:bob@example.test,DNS:bob.example.test`).
 */
export function makeClientCert(pki: TestPki, name: string, subject: string, sans?: string): CertFiles {
  const extensions = `${sans === undefined ? '' : `subjectAltName=${sans}\n`}extendedKeyUsage=clientAuth`;
  return makeLeaf(pki.dir, name, 'ca', subject, extensions);
}

/** Sends `bytes` over plain TCP; resolves with everything read once the server closes. */
export function plaintextAnswer(port: number, bytes: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = netConnect({ host: '127.0.0.1', port }, () => socket.write(bytes));
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('the TLS port kept a plaintext connection open for 10 s'));
    }, 10_000);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
  });
}
