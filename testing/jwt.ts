/**
 * A token issuer for tests: keys made at run time with node:crypto (an RSA, an EC P-256 and an HMAC
 * key, written to a temporary folder as the broker's `jwtKeys` files, and a JWKS with the same
 * public keys), and tokens signed with any of them — or forged: `alg: none`, HS256 over the RSA
 * key's PEM text, a signature that does not verify.
 */
import { Buffer } from 'node:buffer';
import { createHmac, generateKeyPairSync, type KeyObject, randomBytes, sign } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../src/config/schema.js';

export type Claims = Record<string, unknown>;

export interface SignOptions {
  /** Default RS256. */
  readonly alg?: string;
  /** Default: the kid of the algorithm's key; `null` leaves the header without one. */
  readonly kid?: string | null;
  /** Extra header fields (`crit`, `typ`, …). */
  readonly header?: Record<string, unknown>;
  /** Sign with this instead (a key the broker does not know). */
  readonly key?: KeyObject | Buffer;
}

export interface TestIssuer {
  readonly dir: string;
  /** `jwtKeys` entries: `rsa-1` (RSA 2048), `ec-1` (P-256), `hs-1` (a 32-byte secret). */
  readonly jwtKeys: string[];
  readonly rsaPublicPemFile: string;
  /** A JWKS file with the RSA and EC public keys (kids `jwks-rsa`, `jwks-ec`) and an `oct` key `jwks-hs`. */
  readonly jwksFile: string;
  /** Broker settings that turn token logins on with these keys. */
  settings(extra?: Partial<Config>): Partial<Config>;
  /** A signed token; `exp` defaults to an hour from `nowMs`, `aud` to `switchyard`, `sub` to `app`. */
  token(claims?: Claims, options?: SignOptions): string;
  /** The unsecured form (`alg: none`, empty signature). */
  unsigned(claims?: Claims): string;
  /** HS256 with the RSA public key's PEM text as the secret: the algorithm-confusion forgery. */
  confused(claims?: Claims): string;
  remove(): void;
}

const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** The issuer's keys, and the files and JWKS the broker reads them from. */
function makeKeys(dir: string) {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const hmac = randomBytes(32);
  // The broker drops one trailing newline (LF or CR LF) from a secret file as an editor's: a random
  // secret ending in one would lose a byte (1 run in ~128), so its last byte is never 0x0a or 0x0d.
  hmac[31] = hmac[31]! | 0x80;
  const jwksRsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwksEc = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const jwksHmac = randomBytes(48);
  const rsaPem = rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string;
  const files = {
    rsa: join(dir, 'rsa.pem'),
    ec: join(dir, 'ec.pem'),
    hs: join(dir, 'hs.secret'),
    jwks: join(dir, 'jwks.json'),
  };
  writeFileSync(files.rsa, rsaPem);
  writeFileSync(files.ec, ec.publicKey.export({ type: 'spki', format: 'pem' }));
  writeFileSync(files.hs, hmac);
  writeFileSync(
    files.jwks,
    JSON.stringify({
      keys: [
        { ...jwksRsa.publicKey.export({ format: 'jwk' }), kid: 'jwks-rsa', use: 'sig', alg: 'RS256' },
        { ...jwksEc.publicKey.export({ format: 'jwk' }), kid: 'jwks-ec', use: 'sig' },
        { kty: 'oct', k: jwksHmac.toString('base64url'), kid: 'jwks-hs' },
      ],
    }),
  );
  return { rsa, ec, hmac, jwksRsa, jwksEc, jwksHmac, rsaPem, files };
}

function signWith(alg: string, key: KeyObject | Buffer, input: string): Buffer {
  const hash = `sha${alg.slice(2)}`;
  const family = alg.slice(0, 2);
  if (family === 'HS') return createHmac(hash, key).update(input).digest();
  const privateKey = key as KeyObject;
  if (family === 'ES') return sign(hash, Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });
  if (family === 'PS') return sign(hash, Buffer.from(input), { key: privateKey, padding: 6, saltLength: -1 });
  return sign(hash, Buffer.from(input), privateKey);
}

export function makeIssuer(nowMs: () => number = Date.now): TestIssuer {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-jwt-'));
  const { rsa, ec, hmac, jwksRsa, jwksEc, jwksHmac, rsaPem, files } = makeKeys(dir);
  const keyFor: Record<string, { kid: string; key: KeyObject | Buffer }> = {
    RS: { kid: 'rsa-1', key: rsa.privateKey },
    PS: { kid: 'rsa-1', key: rsa.privateKey },
    ES: { kid: 'ec-1', key: ec.privateKey },
    HS: { kid: 'hs-1', key: hmac },
  };
  const jwksKeys: Record<string, KeyObject | Buffer> = {
    'jwks-rsa': jwksRsa.privateKey,
    'jwks-ec': jwksEc.privateKey,
    'jwks-hs': jwksHmac,
  };
  const claimsOf = (claims: Claims): Claims => ({
    sub: 'app',
    aud: 'switchyard',
    exp: Math.floor(nowMs() / 1000) + 3600,
    ...claims,
  });

  return {
    dir,
    jwtKeys: [`rsa-1=${files.rsa}`, `ec-1=${files.ec}`, `hs-1=${files.hs}`],
    rsaPublicPemFile: files.rsa,
    jwksFile: files.jwks,
    settings(extra = {}) {
      return { jwtKeys: this.jwtKeys, jwtJwksFile: files.jwks, ...extra };
    },
    token(claims = {}, options = {}) {
      const alg = options.alg ?? 'RS256';
      const own = keyFor[alg.slice(0, 2)];
      const kid = options.kid === undefined ? own?.kid : options.kid;
      const header = {
        alg,
        typ: 'JWT',
        ...(kid === null || kid === undefined ? {} : { kid }),
        ...options.header,
      };
      const input = `${part(header)}.${part(claimsOf(claims))}`;
      const key = options.key ?? (kid !== null && kid !== undefined ? jwksKeys[kid] : undefined) ?? own?.key;
      if (key === undefined) throw new Error(`no key for ${alg}`);
      return `${input}.${signWith(alg, key, input).toString('base64url')}`;
    },
    unsigned(claims = {}) {
      return `${part({ alg: 'none', typ: 'JWT' })}.${part(claimsOf(claims))}.`;
    },
    confused(claims = {}) {
      const input = `${part({ alg: 'HS256', typ: 'JWT', kid: 'rsa-1' })}.${part(claimsOf(claims))}`;
      return `${input}.${createHmac('sha256', rsaPem).update(input).digest('base64url')}`;
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
