/**
 * The one JWT validator: every bearer token any protocol takes (AMQP PLAIN/AMQPLAIN password, MQTT
 * password, admin API `Authorization: Bearer`, KubeMQ `authorization`, and Kafka SASL/OAUTHBEARER
 * through the login gate's `loginWithToken`) is checked here, with `node:crypto` and nothing else.
 *
 * A token is accepted when, in this order:
 *   1. it is at most `jwtTokenBytesMax` bytes, three base64url parts (a JWS in compact form; JWE and
 *      the unsecured form are refused), its header and claims JSON objects;
 *   2. its header's `alg` is in the allow-list (`none` never is) and `crit` is absent;
 *   3. its key is found: the header's `kid`, else `jwtDefaultKey`; and the key is of the algorithm's
 *      kind (a secret for HS*, RSA for RS* and PS*, EC of the matching curve for ES*; a JWK's own `alg`
 *      must equal the token's). So an HMAC algorithm is never run with a public key;
 *   4. the signature verifies (ES* signatures are JOSE's raw r||s, `dsaEncoding: 'ieee-p1363'`);
 *   5. `exp` is present and not past, `nbf` (when present) reached, both give or take the leeway;
 *      `iss` equals `jwtIssuer` when one is set; `aud` holds the audience;
 *   6. a user name is found (the first of `jwtUsernameClaims` holding a non-empty string), and the
 *      scopes (`scope`, a space-separated string or a list) are at most 2048.
 * Then the claims become a principal as RabbitMQ's OAuth 2.0 backend makes one: only scopes with the
 * `<resource server id>.` prefix count, `tag:<tag>` ones are tags, the others permissions
 * (./token-scopes.ts).
 *
 * Verified tokens are remembered (by a SHA-256 of the token, at most `cacheEntriesMax`, dropped when
 * the keys change), so a client that sends its token with every call (KubeMQ unary RPCs) is verified
 * once; time is checked again on every use.
 */
import { Buffer } from 'node:buffer';
import { constants, createHash, createHmac, type KeyObject, timingSafeEqual, verify } from 'node:crypto';
import type { Config } from '../config/schema.js';
import type { VerificationKey } from './jwt-keys.js';

/** RabbitMQ's bound on the scopes of one token. */
export const scopesMax = 2048;
const cacheEntriesMax = 1024;

export type JwtSettings = Pick<
  Config,
  | 'jwtDefaultKey'
  | 'jwtAlgorithms'
  | 'jwtResourceServerId'
  | 'jwtAudience'
  | 'jwtIssuer'
  | 'jwtUsernameClaims'
  | 'jwtLeewaySeconds'
  | 'jwtTokenBytesMax'
>;

/** Why a token was refused (logged by the login gate as `token: <reason>`). */
export type TokenRefusal =
  | 'too_large'
  | 'malformed'
  | 'algorithm'
  | 'unknown_key'
  | 'key_mismatch'
  | 'signature'
  | 'expired'
  | 'not_yet_valid'
  | 'issuer'
  | 'audience'
  | 'no_user'
  | 'scopes';

export interface VerifiedToken {
  readonly user: string;
  /** The resource server's scopes with the prefix taken off (`read:%2F/q`, `tag:management`). */
  readonly scopes: readonly string[];
  /** When the token stops being good: `exp` plus the leeway, in ms. */
  readonly expiresAtMs: number;
  readonly claims: Readonly<Record<string, unknown>>;
}

export type TokenCheck =
  | { readonly ok: true; readonly token: VerifiedToken }
  | {
      readonly ok: false;
      readonly reason: TokenRefusal;
      /** The user the token names, when it got that far (for the failed-login log). */
      readonly user?: string;
    };

type Family = 'HS' | 'RS' | 'PS' | 'ES';

interface Algorithm {
  readonly family: Family;
  /** node:crypto's hash name. */
  readonly hash: 'sha256' | 'sha384' | 'sha512';
  readonly hashBytes: number;
  /** ES*: the curve and the bytes of r||s. */
  readonly curve?: string;
  readonly signatureBytes?: number;
}

const algorithms: Readonly<Record<string, Algorithm>> = {
  HS256: { family: 'HS', hash: 'sha256', hashBytes: 32 },
  HS384: { family: 'HS', hash: 'sha384', hashBytes: 48 },
  HS512: { family: 'HS', hash: 'sha512', hashBytes: 64 },
  RS256: { family: 'RS', hash: 'sha256', hashBytes: 32 },
  RS384: { family: 'RS', hash: 'sha384', hashBytes: 48 },
  RS512: { family: 'RS', hash: 'sha512', hashBytes: 64 },
  PS256: { family: 'PS', hash: 'sha256', hashBytes: 32 },
  PS384: { family: 'PS', hash: 'sha384', hashBytes: 48 },
  PS512: { family: 'PS', hash: 'sha512', hashBytes: 64 },
  ES256: { family: 'ES', hash: 'sha256', hashBytes: 32, curve: 'prime256v1', signatureBytes: 64 },
  ES384: { family: 'ES', hash: 'sha384', hashBytes: 48, curve: 'secp384r1', signatureBytes: 96 },
  ES512: { family: 'ES', hash: 'sha512', hashBytes: 64, curve: 'secp521r1', signatureBytes: 132 },
};

const base64url = /^[A-Za-z0-9_-]+$/;

/** True when `text` has the shape of a compact JWS (three base64url parts, a JSON header with `alg`). */
export function looksLikeJwt(text: string): boolean {
  const first = text.indexOf('.');
  if (first <= 0 || text.length < 16 || text.startsWith('{')) return false;
  const second = text.indexOf('.', first + 1);
  if (second < 0 || text.indexOf('.', second + 1) >= 0) return false;
  const header = text.slice(0, first);
  if (!base64url.test(header) || !base64url.test(text.slice(first + 1, second))) return false;
  // `{"` in base64url: every JSON header starts with it.
  return header.startsWith('eyJ');
}

function decodePart(part: string): Buffer | undefined {
  if (part === '' || !base64url.test(part) || part.length % 4 === 1) return undefined;
  return Buffer.from(part, 'base64url');
}

function jsonObject(bytes: Buffer | undefined): Record<string, unknown> | undefined {
  if (bytes === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(bytes.toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** Whether `key` may verify `alg`: the kind of key decides, never the token. */
function keyFits(alg: string, spec: Algorithm, key: VerificationKey): boolean {
  if (key.alg !== undefined && key.alg !== alg) return false;
  const k: KeyObject = key.key;
  switch (spec.family) {
    case 'HS':
      return k.type === 'secret' && (k.symmetricKeySize ?? 0) >= spec.hashBytes;
    case 'RS':
      return k.type === 'public' && k.asymmetricKeyType === 'rsa';
    case 'PS':
      return k.type === 'public' && (k.asymmetricKeyType === 'rsa' || k.asymmetricKeyType === 'rsa-pss');
    case 'ES':
      return (
        k.type === 'public' &&
        k.asymmetricKeyType === 'ec' &&
        k.asymmetricKeyDetails?.namedCurve === spec.curve
      );
  }
}

function signatureValid(spec: Algorithm, key: KeyObject, input: Buffer, signature: Buffer): boolean {
  switch (spec.family) {
    case 'HS': {
      const mac = createHmac(spec.hash, key).update(input).digest();
      return mac.length === signature.length && timingSafeEqual(mac, signature);
    }
    case 'RS':
      return verify(spec.hash, input, key, signature);
    case 'PS':
      return verify(
        spec.hash,
        input,
        { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST },
        signature,
      );
    case 'ES':
      return (
        signature.length === spec.signatureBytes &&
        verify(spec.hash, input, { key, dsaEncoding: 'ieee-p1363' }, signature)
      );
  }
}

/** `scope` as RabbitMQ reads it: a space-separated string or a list of strings. */
function scopesOf(claims: Record<string, unknown>): string[] | undefined {
  const scope = claims['scope'];
  if (scope === undefined) return [];
  if (typeof scope === 'string') return scope.split(' ').filter((s) => s !== '');
  if (Array.isArray(scope) && scope.every((s) => typeof s === 'string')) return scope as string[];
  return undefined;
}

function audienceHolds(aud: unknown, audience: string): boolean {
  if (typeof aud === 'string') return aud === audience;
  return Array.isArray(aud) && aud.includes(audience);
}

interface Cached {
  readonly token: VerifiedToken;
  /** `nbf` less the leeway: before it the token is not yet good. */
  readonly notBeforeMs: number;
}

export class JwtValidator {
  readonly #settings: JwtSettings;
  readonly #allowed: ReadonlySet<string>;
  readonly #audience: string;
  readonly #prefix: string;
  readonly #now: () => number;
  #keys: ReadonlyMap<string, VerificationKey>;
  readonly #cache = new Map<string, Cached>();

  constructor(
    settings: JwtSettings,
    keys: ReadonlyMap<string, VerificationKey>,
    now: () => number = Date.now,
  ) {
    this.#settings = settings;
    this.#allowed = new Set(settings.jwtAlgorithms.filter((name) => algorithms[name] !== undefined));
    this.#audience = settings.jwtAudience === '' ? settings.jwtResourceServerId : settings.jwtAudience;
    this.#prefix = `${settings.jwtResourceServerId}.`;
    this.#now = now;
    this.#keys = keys;
  }

  /** The keys after a reload; tokens verified with the old ones are verified again. */
  replaceKeys(keys: ReadonlyMap<string, VerificationKey>): void {
    this.#keys = keys;
    this.#cache.clear();
  }

  get keyCount(): number {
    return this.#keys.size;
  }

  check(token: string): TokenCheck {
    if (Buffer.byteLength(token) > this.#settings.jwtTokenBytesMax) return { ok: false, reason: 'too_large' };
    const cacheKey = createHash('sha256').update(token).digest('base64');
    const cached = this.#cache.get(cacheKey);
    if (cached !== undefined) return this.#timely(cached);
    const checked = this.#verify(token);
    if (!checked.ok) return checked;
    if (this.#cache.size >= cacheEntriesMax) this.#cache.delete(this.#cache.keys().next().value!);
    this.#cache.set(cacheKey, checked.cached);
    return this.#timely(checked.cached);
  }

  #timely(cached: Cached): TokenCheck {
    const now = this.#now();
    const user = cached.token.user;
    if (now >= cached.token.expiresAtMs) return { ok: false, reason: 'expired', user };
    if (now < cached.notBeforeMs) return { ok: false, reason: 'not_yet_valid', user };
    return { ok: true, token: cached.token };
  }

  #verify(token: string): { ok: true; cached: Cached } | Extract<TokenCheck, { ok: false }> {
    const parts = token.split('.');
    if (parts.length !== 3) return { ok: false, reason: 'malformed' };
    const [headerPart, claimsPart, signaturePart] = parts as [string, string, string];
    const header = jsonObject(decodePart(headerPart));
    if (header === undefined) return { ok: false, reason: 'malformed' };
    const alg = header['alg'];
    if (typeof alg !== 'string' || !this.#allowed.has(alg) || header['crit'] !== undefined)
      return { ok: false, reason: 'algorithm' };
    const claims = jsonObject(decodePart(claimsPart));
    const signature = decodePart(signaturePart);
    if (claims === undefined || signature === undefined) return { ok: false, reason: 'malformed' };
    const spec = algorithms[alg]!;
    const kid = header['kid'] === undefined ? this.#settings.jwtDefaultKey : header['kid'];
    const key = typeof kid === 'string' && kid !== '' ? this.#keys.get(kid) : undefined;
    if (key === undefined) return { ok: false, reason: 'unknown_key' };
    if (!keyFits(alg, spec, key)) return { ok: false, reason: 'key_mismatch' };
    const input = Buffer.from(`${headerPart}.${claimsPart}`, 'latin1');
    if (!signatureValid(spec, key.key, input, signature)) return { ok: false, reason: 'signature' };
    return this.#claims(claims);
  }

  /** Claims of a token whose signature verified. */
  #claims(
    claims: Record<string, unknown>,
  ): { ok: true; cached: Cached } | Extract<TokenCheck, { ok: false }> {
    const user = this.#settings.jwtUsernameClaims
      .map((name) => claims[name])
      .find((value): value is string => typeof value === 'string' && value !== '');
    const named = user === undefined ? {} : { user };
    const leewayMs = this.#settings.jwtLeewaySeconds * 1000;
    const exp = claims['exp'];
    if (typeof exp !== 'number' || !Number.isFinite(exp)) return { ok: false, reason: 'expired', ...named };
    const nbf = claims['nbf'];
    if (nbf !== undefined && (typeof nbf !== 'number' || !Number.isFinite(nbf)))
      return { ok: false, reason: 'not_yet_valid', ...named };
    if (this.#settings.jwtIssuer !== '' && claims['iss'] !== this.#settings.jwtIssuer)
      return { ok: false, reason: 'issuer', ...named };
    if (!audienceHolds(claims['aud'], this.#audience)) return { ok: false, reason: 'audience', ...named };
    if (user === undefined) return { ok: false, reason: 'no_user' };
    const all = scopesOf(claims);
    if (all === undefined) return { ok: false, reason: 'scopes', user };
    const scopes = [
      ...new Set(all.filter((s) => s.startsWith(this.#prefix)).map((s) => s.slice(this.#prefix.length))),
    ];
    if (scopes.length > scopesMax) return { ok: false, reason: 'scopes', user };
    const token: VerifiedToken = { user, scopes, expiresAtMs: exp * 1000 + leewayMs, claims };
    const notBeforeMs = typeof nbf === 'number' ? nbf * 1000 - leewayMs : Number.NEGATIVE_INFINITY;
    return { ok: true, cached: { token, notBeforeMs } };
  }
}
