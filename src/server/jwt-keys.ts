/**
 * The keys that verify JWT bearer tokens, read from the files the configuration names: `jwtKeys`
 * (`<kid>=<file>`, a PEM public key or an HMAC secret) and `jwtJwksFile` (a JWKS document). Read at
 * start and again on reload (SIGHUP); a file that cannot be read or a key that cannot be used stops the
 * start, and fails a reload leaving the keys in force unchanged. Keys are never fetched from the network
 * nor taken from a token's own headers (`jku`, `jwk`, `x5u` are ignored).
 *
 * What a key is decides which algorithms it verifies (./jwt.ts): a secret only HS*, an RSA key only
 * RS* and PS*, an EC key only the ES* of its curve. A PEM file is never taken as an HMAC secret, so a
 * token signed with HS256 over a public key's text (the algorithm-confusion attack) finds no key.
 */
import { Buffer } from 'node:buffer';
import { createPublicKey, createSecretKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { jwtKeyEntry } from '../config/parse.js';
import type { Config } from '../config/schema.js';

/** RFC 7518 §3.2: an HMAC key at least as long as the hash; HS256's is the shortest accepted. */
export const hmacSecretBytesMin = 32;
/** RSA keys shorter than this verify nothing (RFC 7518 §3.3). */
export const rsaModulusBitsMin = 2048;

export interface VerificationKey {
  readonly kid: string;
  /** A secret (HS*) or a public key (RS*, PS*, ES*). */
  readonly key: KeyObject;
  /** A JWK's own `alg`: the only algorithm the key is used with. */
  readonly alg?: string;
  /** Where it was read from, for messages. */
  readonly source: string;
}

export type KeySettings = Pick<Config, 'jwtKeys' | 'jwtJwksFile' | 'jwtDefaultKey'>;

export class JwtKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JwtKeyError';
  }
}

/** True when JWT logins are configured at all. */
export function jwtConfigured(config: KeySettings): boolean {
  return config.jwtKeys.length > 0 || config.jwtJwksFile !== '';
}

function read(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new JwtKeyError(`${what}: cannot read ${file}: ${(err as Error).message}`);
  }
}

const pemBegin = /-----BEGIN ([A-Z0-9 ]+)-----/;

/** A PEM public key (or a certificate's), or an HMAC secret: the bytes of a file that is not PEM. */
export function keyFromFile(kid: string, file: string): VerificationKey {
  const bytes = read(file, `jwtKeys ${kid}`);
  const text = bytes.toString('utf8');
  const pem = pemBegin.exec(text);
  if (pem !== null) {
    if (pem[1]!.includes('PRIVATE')) {
      throw new JwtKeyError(
        `jwtKeys ${kid}: ${file} holds a private key; give the public key (openssl pkey -pubout)`,
      );
    }
    let key: KeyObject;
    try {
      key = createPublicKey(text);
    } catch (err) {
      throw new JwtKeyError(`jwtKeys ${kid}: ${file} is not a usable public key: ${(err as Error).message}`);
    }
    checkPublicKey(kid, key, file);
    return { kid, key, source: file };
  }
  // One trailing newline is an editor's, not the secret's.
  const secret = bytes.subarray(0, bytes.length - trailingNewlineBytes(bytes));
  if (secret.length < hmacSecretBytesMin) {
    throw new JwtKeyError(
      `jwtKeys ${kid}: the HMAC secret in ${file} has ${secret.length} bytes; at least ${hmacSecretBytesMin} are needed`,
    );
  }
  return { kid, key: createSecretKey(secret), source: file };
}

function trailingNewlineBytes(bytes: Buffer): number {
  if (bytes.length >= 2 && bytes[bytes.length - 2] === 0x0d && bytes[bytes.length - 1] === 0x0a) return 2;
  return bytes.length >= 1 && bytes[bytes.length - 1] === 0x0a ? 1 : 0;
}

function checkPublicKey(kid: string, key: KeyObject, source: string): void {
  const type = key.asymmetricKeyType;
  if (type === 'rsa' || type === 'rsa-pss') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < rsaModulusBitsMin)
      throw new JwtKeyError(`${kid} (${source}): an RSA key of ${bits} bits; at least ${rsaModulusBitsMin}`);
    return;
  }
  if (type === 'ec') return;
  throw new JwtKeyError(`${kid} (${source}): a ${type ?? 'unknown'} key; RSA and EC keys verify tokens`);
}

interface Jwk extends JsonWebKey {
  kid?: unknown;
  use?: unknown;
  alg?: unknown;
}

const privateMembers = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth'] as const;

/** The keys of a JWKS document; keys for encryption (`use: enc`) are left out. */
export function keysFromJwks(file: string): VerificationKey[] {
  const what = `jwtJwksFile`;
  let document: unknown;
  try {
    document = JSON.parse(read(file, what).toString('utf8'));
  } catch (err) {
    if (err instanceof JwtKeyError) throw err;
    throw new JwtKeyError(`${what}: ${file} is not JSON: ${(err as Error).message}`);
  }
  const keys = (document as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys)) throw new JwtKeyError(`${what}: ${file} has no "keys" list`);
  const out: VerificationKey[] = [];
  keys.forEach((raw: unknown, i) => {
    const jwk = raw as Jwk;
    const where = `${what} ${file}, key ${i}`;
    if (typeof jwk !== 'object' || jwk === null) throw new JwtKeyError(`${where} is not an object`);
    if (typeof jwk.kid !== 'string' || jwk.kid === '') throw new JwtKeyError(`${where} has no "kid"`);
    if (jwk.use !== undefined && jwk.use !== 'sig') return;
    if (jwk.alg !== undefined && typeof jwk.alg !== 'string')
      throw new JwtKeyError(`${where} has an "alg" that is not a string`);
    out.push(keyFromJwk(jwk, where, file));
  });
  return out;
}

function keyFromJwk(jwk: Jwk, where: string, file: string): VerificationKey {
  const kid = jwk.kid as string;
  const alg = typeof jwk.alg === 'string' ? { alg: jwk.alg } : {};
  if (jwk.kty === 'oct') {
    if (typeof jwk.k !== 'string' || !/^[A-Za-z0-9_-]*$/.test(jwk.k))
      throw new JwtKeyError(`${where}: an oct key needs "k" in base64url`);
    const secret = Buffer.from(jwk.k, 'base64url');
    if (secret.length < hmacSecretBytesMin)
      throw new JwtKeyError(
        `${where}: an HMAC secret of ${secret.length} bytes; at least ${hmacSecretBytesMin}`,
      );
    return { kid, key: createSecretKey(secret), source: file, ...alg };
  }
  if (jwk.kty !== 'RSA' && jwk.kty !== 'EC')
    throw new JwtKeyError(`${where}: kty ${String(jwk.kty)} is not used`);
  if (privateMembers.some((member) => jwk[member] !== undefined))
    throw new JwtKeyError(`${where}: a private key; a JWKS for verifying holds public keys only`);
  let key: KeyObject;
  try {
    key = createPublicKey({ key: jwk, format: 'jwk' });
  } catch (err) {
    throw new JwtKeyError(`${where}: not a usable key: ${(err as Error).message}`);
  }
  checkPublicKey(kid, key, file);
  return { kid, key, source: file, ...alg };
}

/** The key set `config` names: every file read now. Throws `JwtKeyError` on the first problem. */
export function loadJwtKeys(config: KeySettings): Map<string, VerificationKey> {
  const keys = new Map<string, VerificationKey>();
  const add = (key: VerificationKey) => {
    const before = keys.get(key.kid);
    if (before !== undefined)
      throw new JwtKeyError(
        `the kid ${JSON.stringify(key.kid)} names two keys (${before.source}, ${key.source})`,
      );
    keys.set(key.kid, key);
  };
  for (const entry of config.jwtKeys) {
    const parsed = jwtKeyEntry(entry);
    if (parsed === undefined) throw new JwtKeyError(`jwtKeys: ${JSON.stringify(entry)} is not <kid>=<file>`);
    add(keyFromFile(parsed.kid, parsed.file));
  }
  if (config.jwtJwksFile !== '') for (const key of keysFromJwks(config.jwtJwksFile)) add(key);
  if (config.jwtDefaultKey !== '' && !keys.has(config.jwtDefaultKey))
    throw new JwtKeyError(`jwtDefaultKey ${JSON.stringify(config.jwtDefaultKey)} names no key`);
  return keys;
}
