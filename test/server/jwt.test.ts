/**
 * The JWT validator (src/server/jwt.ts), its keys (src/server/jwt-keys.ts) and what a token's scopes
 * grant (src/server/token-scopes.ts), without a broker: every algorithm family, every refusal, and
 * RabbitMQ's scope grammar.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import { configDefault } from '../../src/config/schema.js';
import { Broker } from '../../src/index.js';
import { JwtValidator, looksLikeJwt } from '../../src/server/jwt.js';
import { JwtKeyError, loadJwtKeys } from '../../src/server/jwt-keys.js';
import { parseScopes, ScopePermissions, wildcardSource } from '../../src/server/token-scopes.js';
import { silentLogger } from '../../src/shared/logger.js';
import { makeIssuer } from '../../testing/jwt.js';
import { allPortsOff } from '../../testing/server-helpers.js';

const nowMs = 1_800_000_000_000;
const issuer = makeIssuer(() => nowMs);
after(() => issuer.remove());

function validator(overrides: Partial<typeof configDefault> = {}) {
  const config = { ...configDefault, ...issuer.settings(), ...overrides };
  return new JwtValidator(config, loadJwtKeys(config), () => nowMs);
}

function refusal(token: string, overrides: Partial<typeof configDefault> = {}): string | undefined {
  const checked = validator(overrides).check(token);
  return checked.ok ? undefined : checked.reason;
}

describe('verification', () => {
  test('RS256, RS512, PS256, ES256 and HS256 tokens verify with their own keys, and JWKS keys by kid', () => {
    const v = validator();
    for (const alg of ['RS256', 'RS512', 'PS256', 'PS384', 'ES256', 'HS256']) {
      const checked = v.check(issuer.token({ sub: `u-${alg}` }, { alg }));
      assert.ok(checked.ok, alg);
      assert.equal(checked.token.user, `u-${alg}`);
    }
    for (const [kid, alg] of [
      ['jwks-rsa', 'RS256'],
      ['jwks-ec', 'ES256'],
      ['jwks-hs', 'HS384'],
    ] as const)
      assert.ok(v.check(issuer.token({}, { alg, kid })).ok, kid);
  });

  test('alg none, HMAC over the public key, another curve and a JWK pinned to another alg are refused', () => {
    assert.equal(refusal(issuer.unsigned()), 'algorithm');
    // A header saying `none` over a real signature is refused all the same.
    assert.equal(refusal(issuer.token({}, { header: { alg: 'none' } })), 'algorithm');
    assert.equal(refusal(issuer.token({}, { header: { alg: 'None' } })), 'algorithm');
    // The algorithm-confusion forgery: HS256 keyed with the RSA key's PEM text.
    assert.equal(refusal(issuer.confused()), 'key_mismatch');
    // An HMAC token naming the EC key, an ES384 token naming a P-256 key.
    assert.equal(refusal(issuer.token({}, { alg: 'HS256', kid: 'ec-1' })), 'key_mismatch');
    const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).privateKey;
    assert.equal(refusal(issuer.token({}, { alg: 'ES384', kid: 'ec-1', key: p384 })), 'key_mismatch');
    // jwks-rsa says `alg: RS256`: PS256 with it is refused even though the key is RSA.
    assert.equal(refusal(issuer.token({}, { alg: 'PS256', kid: 'jwks-rsa' })), 'key_mismatch');
    // HS512 needs 64 bytes of secret; hs-1 has 32.
    assert.equal(refusal(issuer.token({}, { alg: 'HS512' })), 'key_mismatch');
  });

  test('a bad signature, an unknown kid, a missing kid without a default key, crit and the allow-list', () => {
    const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    assert.equal(refusal(issuer.token({}, { key: stranger })), 'signature');
    const good = issuer.token();
    const [h, p, s] = good.split('.') as [string, string, string];
    const other = issuer.token({ sub: 'mallory' }).split('.')[1]!;
    assert.equal(refusal(`${h}.${other}.${s}`), 'signature');
    assert.equal(refusal(`${h}.${p}.${s.slice(0, -4)}AAAA`), 'signature');
    assert.equal(refusal(issuer.token({}, { kid: 'nope' })), 'unknown_key');
    assert.equal(refusal(issuer.token({}, { kid: null })), 'unknown_key');
    assert.equal(refusal(issuer.token({}, { kid: null }), { jwtDefaultKey: 'rsa-1' }), undefined);
    assert.equal(refusal(issuer.token({}, { header: { crit: ['exp'] } })), 'algorithm');
    assert.equal(refusal(issuer.token(), { jwtAlgorithms: ['ES256'] }), 'algorithm');
  });

  test('shape and size: three base64url parts, JSON objects, at most jwtTokenBytesMax', () => {
    const header = Buffer.from('{"alg":"RS256","kid":"rsa-1"}').toString('base64url');
    for (const bad of [
      '',
      'a.b',
      'a.b.c.d',
      '!!.e30.',
      'bm90IGpzb24.e30.',
      `${header}.W10.c2ln`,
      `${header}.e30.`,
    ])
      assert.equal(refusal(bad), 'malformed', bad);
    assert.equal(refusal('e30.e30.c2ln'), 'algorithm', 'a header without alg');
    const big = issuer.token({ pad: 'x'.repeat(2000) });
    assert.equal(refusal(big, { jwtTokenBytesMax: 1024 }), 'too_large');
    assert.equal(refusal(big), undefined);
  });

  test('exp is required; exp and nbf hold give or take the leeway', () => {
    const s = nowMs / 1000;
    assert.equal(refusal(issuer.token({ exp: undefined })), 'expired');
    assert.equal(refusal(issuer.token({ exp: 'tomorrow' })), 'expired');
    assert.equal(refusal(issuer.token({ exp: s - 60 })), 'expired');
    assert.equal(refusal(issuer.token({ exp: s - 10 })), undefined, 'within the 30 s leeway');
    assert.equal(refusal(issuer.token({ exp: s - 10 }), { jwtLeewaySeconds: 0 }), 'expired');
    assert.equal(refusal(issuer.token({ nbf: s + 60 })), 'not_yet_valid');
    assert.equal(refusal(issuer.token({ nbf: s + 10 })), undefined);
    const checked = validator().check(issuer.token({ exp: s + 100 }));
    assert.ok(checked.ok);
    assert.equal(checked.token.expiresAtMs, nowMs + 130_000);
  });

  test('aud must name the resource server (or jwtAudience); iss must equal jwtIssuer when set', () => {
    assert.equal(refusal(issuer.token({ aud: 'other' })), 'audience');
    assert.equal(refusal(issuer.token({ aud: undefined })), 'audience');
    assert.equal(refusal(issuer.token({ aud: ['other', 'switchyard'] })), undefined);
    assert.equal(refusal(issuer.token({ aud: 'rabbitmq' }), { jwtResourceServerId: 'rabbitmq' }), undefined);
    assert.equal(refusal(issuer.token({ aud: 'api://mq' }), { jwtAudience: 'api://mq' }), undefined);
    assert.equal(refusal(issuer.token({ iss: 'https://idp' }), { jwtIssuer: 'https://idp' }), undefined);
    assert.equal(refusal(issuer.token({ iss: 'https://evil' }), { jwtIssuer: 'https://idp' }), 'issuer');
    assert.equal(refusal(issuer.token({}), { jwtIssuer: 'https://idp' }), 'issuer');
  });

  test('the user name comes from the first claim present; scopes keep the resource server prefix only', () => {
    const v = validator({ jwtUsernameClaims: ['preferred_username', 'sub'] });
    const checked = v.check(
      issuer.token({
        preferred_username: 'alice',
        scope: 'switchyard.read:*/* other.write:*/* switchyard.tag:management openid switchyard.read:*/*',
      }),
    );
    assert.ok(checked.ok);
    assert.equal(checked.token.user, 'alice');
    assert.deepEqual(checked.token.scopes, ['read:*/*', 'tag:management']);
    const listed = v.check(issuer.token({ scope: ['switchyard.write:%2F/q'] }));
    assert.ok(listed.ok);
    assert.deepEqual(listed.token.scopes, ['write:%2F/q']);
    assert.equal(refusal(issuer.token({ sub: undefined })), 'no_user');
    assert.equal(refusal(issuer.token({ sub: '' })), 'no_user');
    assert.equal(refusal(issuer.token({ scope: 42 })), 'scopes');
    const many = Array.from({ length: 2049 }, (_, i) => `switchyard.read:*/q${i}`);
    assert.equal(refusal(issuer.token({ scope: many }), { jwtTokenBytesMax: 1024 * 1024 }), 'scopes');
  });

  test('a verified token is remembered, and checked against the time on every use', () => {
    let now = nowMs;
    const config = { ...configDefault, ...issuer.settings(), jwtLeewaySeconds: 0 };
    const v = new JwtValidator(config, loadJwtKeys(config), () => now);
    const token = issuer.token({ exp: nowMs / 1000 + 10 });
    assert.ok(v.check(token).ok);
    now += 11_000;
    const later = v.check(token);
    assert.equal(later.ok ? 'ok' : later.reason, 'expired');
  });

  test('looksLikeJwt tells a token from a password', () => {
    assert.ok(looksLikeJwt(issuer.token()));
    assert.ok(looksLikeJwt(issuer.unsigned()));
    for (const password of ['guest', 's3cret.with.dots', 'a.b.c', '', 'eyJ.x', 'eyJhbGciOi.eyJ.sig.extra'])
      assert.equal(looksLikeJwt(password), false, password);
  });
});

describe('keys', () => {
  test('a PEM private key, a short secret, a short RSA key and a missing default key stop the load', () => {
    const pair = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const dir = issuer.dir;
    const privateFile = join(dir, 'private.pem');
    writeFileSync(privateFile, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const shortRsa = join(dir, 'short.pem');
    writeFileSync(shortRsa, pair.publicKey.export({ type: 'spki', format: 'pem' }));
    const shortSecret = join(dir, 'short.secret');
    writeFileSync(shortSecret, 'too short\n');
    const load = (jwtKeys: string[], extra: Partial<typeof configDefault> = {}) =>
      loadJwtKeys({ ...configDefault, jwtKeys, ...extra });
    assert.throws(() => load([`k=${privateFile}`]), /private key/);
    assert.throws(() => load([`k=${shortRsa}`]), /1024 bits/);
    assert.throws(() => load([`k=${shortSecret}`]), /9 bytes/);
    assert.throws(() => load([`k=${join(dir, 'missing')}`]), JwtKeyError);
    assert.throws(() => load(issuer.jwtKeys, { jwtDefaultKey: 'nope' }), /names no key/);
    assert.throws(() => load(issuer.jwtKeys, { jwtJwksFile: privateFile }), /not JSON/);
    const privateJwks = join(dir, 'private-jwks.json');
    writeFileSync(
      privateJwks,
      JSON.stringify({ keys: [{ ...pair.privateKey.export({ format: 'jwk' }), kid: 'p' }] }),
    );
    assert.throws(() => load([], { jwtJwksFile: privateJwks }), /private key/);
    const certificate = loadJwtKeys({ ...configDefault, jwtKeys: [`r=${issuer.rsaPublicPemFile}`] });
    assert.equal(certificate.get('r')?.key.asymmetricKeyType, 'rsa');
  });
});

describe('scopes', () => {
  const grant = (scopes: string[], claims: Record<string, unknown> = {}) =>
    new ScopePermissions(parseScopes(scopes, claims));

  test('wildcards: * is any run of characters, %XX a byte, everything else itself', () => {
    const matches = (pattern: string, value: string) => new RegExp(wildcardSource(pattern)!).test(value);
    assert.ok(matches('*', ''));
    assert.ok(matches('app.*', 'app.jobs'));
    assert.ok(matches('a*b', 'abab'));
    assert.ok(!matches('app.*', 'apps'));
    assert.ok(!matches('app.*', 'x.app.jobs'));
    assert.ok(matches('%2F', '/'));
    assert.ok(matches('q%2A', 'q*'));
    assert.ok(!matches('q%2A', 'qx'));
    assert.ok(matches('a(b)[c]', 'a(b)[c]'));
    assert.equal(wildcardSource('bad%zz'), undefined);
  });

  test('configure, write and read per vhost; a vhost without a scope is no vhost at all', () => {
    const g = grant([
      'read:%2F/app.*',
      'write:%2F/amq.default',
      'configure:%2F/app.*',
      'read:dev/*',
      'tag:monitoring',
    ]);
    const root = g.permission('/')!;
    assert.ok(new RegExp(root.read).test('app.jobs'));
    assert.ok(!new RegExp(root.read).test('orders'));
    assert.ok(new RegExp(root.write).test('amq.default'));
    assert.equal(g.permission('dev')!.write, '');
    assert.equal(g.permission('prod'), undefined);
    assert.deepEqual(g.tags, ['monitoring']);
  });

  test('topic scopes come from three-part scopes; {vhost} and claims are put in literally', () => {
    const g = grant(['write:*/amq.topic/devices.{sub}.*', 'read:{vhost}/amq.topic/*', 'configure:*/x/y'], {
      sub: 'd*42',
    });
    const topics = g.scopedTopics('/');
    assert.equal(topics.length, 2);
    const write = topics.find((t) => t.permission === 'write')!;
    assert.ok(new RegExp(write.routingKey).test('devices.d*42.temp'));
    assert.ok(!new RegExp(write.routingKey).test('devices.d7.temp'), 'the claim value is not a wildcard');
    const read = topics.find((t) => t.permission === 'read')!;
    assert.ok(new RegExp(read.exchange).test('amq.topic'));
  });

  test('renew takes a refreshed token’s scopes and moves the generation on', () => {
    const g = grant(['read:*/a']);
    const before = g.generation;
    g.renew(grant(['read:*/b', 'tag:management']));
    assert.ok(g.generation > before);
    assert.ok(new RegExp(g.permission('/')!.read).test('b'));
    assert.deepEqual(g.tags, ['management']);
  });
});

describe('settings and reloads', () => {
  test('the allow-list never takes none, and jwtKeys entries are <kid>=<file>, each kid once', () => {
    const load = (...args: string[]) => loadConfig({ args, env: {}, cwd: issuer.dir });
    assert.throws(
      () => load('--jwt-algorithms', 'RS256,none'),
      /"none" is not one of .*`none` is never accepted/,
    );
    assert.throws(() => load('--jwt-keys', 'no-equals-sign'), /is not <kid>=<file>/);
    assert.throws(() => load('--jwt-keys', 'a=x,a=y'), /the kid "a" is given twice/);
    assert.throws(() => load('--amqp-auth-mechanisms', 'PLAIN,CRAM-MD5'), /CRAM-MD5/);
    assert.deepEqual(load('--jwt-algorithms', 'ES256').jwtAlgorithms, ['ES256']);
  });

  test('a key file that cannot be used stops the start', async () => {
    await assert.rejects(
      Broker.start({
        ...allPortsOff,
        storage: 'memory',
        logger: silentLogger(),
        jwtKeys: [`k=${join(issuer.dir, 'none')}`],
      }),
      /jwtKeys k: cannot read/,
    );
  });

  test('reloadJwtKeys reads the files again; a file that cannot be used keeps the keys in force', async () => {
    const file = join(issuer.dir, 'rotating.pem');
    const [rsaEntry, ecEntry] = issuer.jwtKeys as [string, string];
    copyFileSync(rsaEntry.slice('rsa-1='.length), file);
    const broker = await Broker.start({
      ...allPortsOff,
      storage: 'memory',
      logger: silentLogger(),
      httpPort: 'auto',
      jwtKeys: [`rotating=${file}`],
    });
    const status = async (token: string) =>
      (
        await fetch(`http://127.0.0.1:${broker.ports.httpPort}/api/whoami`, {
          headers: { authorization: `Bearer ${token}` },
        })
      ).status;
    try {
      // The issuer's RSA and EC keys, both under the kid the broker now knows.
      const claims = { scope: 'switchyard.tag:management' };
      const rsaToken = issuer.token(claims, { alg: 'RS256', kid: 'rotating' });
      const ecToken = issuer.token(claims, { alg: 'ES256', kid: 'rotating' });
      assert.equal(await status(rsaToken), 200);
      assert.equal(await status(ecToken), 401);
      copyFileSync(ecEntry.slice('ec-1='.length), file);
      await broker.reloadJwtKeys();
      assert.equal(await status(ecToken), 200);
      assert.equal(await status(rsaToken), 401);
      writeFileSync(file, '-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----\n');
      await assert.rejects(broker.reloadJwtKeys(), /not a usable public key/);
      assert.equal(await status(ecToken), 200, 'the old keys stay');
    } finally {
      await broker.stop();
    }
  });
});
