/**
 * The Kafka SASL state of one connection on a manual clock (sasl.ts), which port settings require
 * SASL, who an unauthenticated connection is on a port without it, and OAUTHBEARER's first message.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { internalPrincipal } from '../../src/core/entry/context.js';
import { ApiKey } from '../../src/protocols/kafka/codec/index.js';
import { KafkaError } from '../../src/protocols/kafka/errors.js';
import { anonymousPrincipalOf, saslInForce } from '../../src/protocols/kafka/listener.js';
import { parseOauthBearerFirst } from '../../src/protocols/kafka/oauthbearer.js';
import { SaslSession } from '../../src/protocols/kafka/sasl.js';
import type { SaslLogin, SaslMechanism } from '../../src/protocols/kafka/sasl-mechanism.js';
import type { Authenticator, LoginResult } from '../../src/protocols/listener.js';
import { ManualClock } from '../../src/shared/clock.js';

/** A mechanism that logs in as the user its one token names. */
const named: SaslMechanism = {
  name: 'NAMED',
  start: () => ({
    step: async (token) => ({
      kind: 'done',
      token: new Uint8Array(0),
      login: { principal: { user: Buffer.from(token).toString(), tags: [] } },
    }),
  }),
};

function session(clock: ManualClock, lifetimeMs: number, accepted: SaslLogin[] = []): SaslSession {
  return new SaslSession({
    mechanisms: new Map([[named.name, named]]),
    sessionLifetimeMs: lifetimeMs,
    clock,
    peer: { remoteAddress: '127.0.0.1', signal: new AbortController().signal },
    accept: (login) => {
      accepted.push(login);
      return undefined;
    },
  });
}

describe('SASL session', () => {
  test('only ApiVersions and SaslHandshake before the login, only SaslAuthenticate after a v1 handshake', async () => {
    const s = session(new ManualClock(), 0);
    assert.equal(s.admit(ApiKey.ApiVersions).kind, 'serve');
    assert.deepEqual(s.admit(ApiKey.Metadata), {
      kind: 'close',
      why: 'Unexpected Kafka request of type METADATA during SASL handshake.',
    });
    assert.equal(s.handshake(1, 'NAMED').errorCode, 0);
    assert.deepEqual(s.admit(ApiKey.Produce), {
      kind: 'close',
      why: 'Unexpected Kafka request of type PRODUCE during SASL authentication.',
    });
    const done = await s.authenticate(Buffer.from('app'));
    assert.equal(done.errorCode, 0);
    assert.equal(done.sessionLifetimeMs, 0n);
    assert.equal(s.admit(ApiKey.Produce).kind, 'serve');
    assert.equal(
      s.handshake(1, 'NAMED').errorCode,
      KafkaError.illegalSaslState,
      'no lifetime: no re-authentication',
    );
  });

  test('KIP-368: the lifetime ends the session; re-authentication renews it at most once a second, same user only', async () => {
    const clock = new ManualClock();
    const accepted: SaslLogin[] = [];
    const s = session(clock, 5000, accepted);
    s.handshake(1, 'NAMED');
    assert.equal((await s.authenticate(Buffer.from('app'))).sessionLifetimeMs, 5000n);
    clock.advance(500);
    assert.equal(s.handshake(1, 'NAMED').errorCode, 0, 'a first re-authentication may come at once');
    await s.authenticate(Buffer.from('app'));
    clock.advance(500);
    assert.equal(
      s.handshake(1, 'NAMED').errorCode,
      KafkaError.illegalSaslState,
      'within a second of the last',
    );
    clock.advance(3500);
    assert.equal(s.admit(ApiKey.SaslHandshake).kind, 'serve');
    assert.equal(s.handshake(1, 'NAMED').errorCode, 0);
    assert.equal((await s.authenticate(Buffer.from('app'))).sessionLifetimeMs, 5000n);
    clock.advance(4999);
    assert.equal(s.admit(ApiKey.Fetch).kind, 'serve', 'renewed');
    clock.advance(1);
    assert.deepEqual(s.admit(ApiKey.Fetch), { kind: 'close', why: 'SASL session expired' });
    assert.equal(s.admit(ApiKey.SaslHandshake).kind, 'serve', 'a lapsed session may still re-authenticate');
    s.handshake(1, 'NAMED');
    const other = await s.authenticate(Buffer.from('mallory'));
    assert.equal(other.errorCode, KafkaError.saslAuthenticationFailed);
    assert.equal(
      other.errorMessage,
      'Cannot change principals during re-authentication from User:app: User:mallory',
    );
    assert.equal(s.closeAfterReply, true);
    assert.deepEqual(
      accepted.map((l) => l.principal.user),
      ['app', 'app', 'app'],
    );
  });

  test('a credential that expires sooner shortens the session', async () => {
    const clock = new ManualClock();
    const expiring: SaslMechanism = {
      name: 'EXPIRING',
      start: () => ({
        step: async () => ({
          kind: 'done',
          token: new Uint8Array(0),
          login: { principal: { user: 'app', tags: [] }, expiresAtMs: clock.now() + 700 },
        }),
      }),
    };
    const s = new SaslSession({
      mechanisms: new Map([[expiring.name, expiring]]),
      sessionLifetimeMs: 0,
      clock,
      peer: { remoteAddress: undefined, signal: new AbortController().signal },
      accept: () => undefined,
    });
    s.handshake(1, 'EXPIRING');
    assert.equal((await s.authenticate(new Uint8Array(0))).sessionLifetimeMs, 700n);
  });
});

describe('Kafka ports without SASL', () => {
  test('kafkaSasl auto requires SASL unless the broker is bound to a loopback address', () => {
    assert.equal(saslInForce('auto', '127.0.0.1'), false);
    assert.equal(saslInForce('auto', '::1'), false);
    assert.equal(saslInForce('auto', '0.0.0.0'), true);
    assert.equal(saslInForce('auto', 'localhost'), true);
    assert.equal(saslInForce('off', '0.0.0.0'), false);
    assert.equal(saslInForce('required', '127.0.0.1'), true);
  });

  test('an unauthenticated client: loopback keeps full rights, a remote one is refused unless anonymousUser is set', () => {
    const asked: Array<string | undefined> = [];
    const auth = {
      anonymous(remote: string | undefined): LoginResult {
        asked.push(remote);
        return remote === '10.1.2.3'
          ? { ok: false, reason: 'anonymous' }
          : { ok: true, user: 'anon', tags: [] };
      },
    } as Authenticator;
    const tcp = (remoteAddress: string) => ({ kind: 'tcp' as const, remoteAddress });
    assert.equal(anonymousPrincipalOf(auth, '', tcp('127.0.0.1')), internalPrincipal);
    assert.equal(
      anonymousPrincipalOf(auth, '', { kind: 'memory', remoteAddress: undefined }),
      internalPrincipal,
    );
    assert.equal(anonymousPrincipalOf(auth, '', tcp('10.1.2.3')), undefined);
    assert.deepEqual(anonymousPrincipalOf(auth, 'anon', tcp('127.0.0.1')), { user: 'anon', tags: [] });
    assert.deepEqual(asked, ['10.1.2.3', '127.0.0.1'], 'the login gate decides (and logs) the rest');
  });
});

describe('OAUTHBEARER client first message (RFC 7628 §3.1)', () => {
  test('the token, an escaped authorization id and extensions are read; malformed messages are named', () => {
    const read = parseOauthBearerFirst(
      'y,a=team=2Cops=3D1,\u0001traceId=a b\u0001auth=bearer  eyJ.x-y_z.s~+/=\u0001\u0001',
    );
    assert.deepEqual(read, {
      authzid: 'team,ops=1',
      token: 'eyJ.x-y_z.s~+/=',
      extensions: new Map([['traceId', 'a b']]),
    });
    const malformed = (message: string) => {
      const result = parseOauthBearerFirst(message);
      return 'malformed' in result ? result.malformed : 'accepted';
    };
    assert.match(malformed('\u0001'), /GS2 header/, 'the lone %x01 a client answers an error with');
    assert.match(malformed('n,a=x,y,\u0001auth=Bearer t\u0001\u0001'), /GS2 header/);
    assert.match(malformed('n,a=x=41,\u0001auth=Bearer t\u0001\u0001'), /saslname/);
    assert.match(malformed('n,,\u0001\u0001'), /no auth/);
    assert.match(malformed('n,,\u0001auth=Bearer t\u0001auth=Bearer u\u0001\u0001'), /one `Bearer/);
    assert.match(malformed('n,,\u0001a1=v\u0001auth=Bearer t\u0001\u0001'), /pair is malformed/);
    assert.match(malformed('n,,\u0001x=v\u0001x=w\u0001auth=Bearer t\u0001\u0001'), /given twice/);
    assert.match(malformed('n,,\u0001auth=Bearer t\u0001'), /two %x01/);
  });
});
