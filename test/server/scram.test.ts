/**
 * SCRAM (RFC 5802 / RFC 7677): the server exchange against RFC 7677's example, the credentials a
 * password gets when it is set, stored with the user and surviving a restart, the ones a user made
 * before them gets at its next password login, and the login gate's refusals.
 */
import assert from 'node:assert/strict';
import { pbkdf2Sync } from 'node:crypto';
import { describe, test } from 'node:test';
import { BrokerCore } from '../../src/core/broker.js';
import { internalContext } from '../../src/core/entry/context.js';
import { credentialFromSalted, scramMechanisms } from '../../src/core/scram.js';
import { createAuthenticator } from '../../src/server/auth.js';
import { ScramServerExchange } from '../../src/server/scram.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { ScramClient } from '../../testing/scram-client.js';

const rfc7677 = {
  salt: Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'),
  clientFirst: 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO',
  serverNonce: '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0',
  serverFirst: 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
  clientFinal:
    'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
  serverFinal: 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
};

function rfcExchange(): ScramServerExchange {
  const salted = pbkdf2Sync('pencil', rfc7677.salt, 4096, 32, 'sha256');
  const credential = credentialFromSalted('SCRAM-SHA-256', salted, rfc7677.salt, 4096);
  return new ScramServerExchange(
    'SCRAM-SHA-256',
    (user) => (user === 'user' ? credential : undefined),
    rfc7677.serverNonce,
  );
}

describe('SCRAM server exchange', () => {
  test("RFC 7677's SCRAM-SHA-256 example, message for message", () => {
    const exchange = rfcExchange();
    assert.deepEqual(exchange.first(rfc7677.clientFirst), {
      ok: true,
      serverFirst: rfc7677.serverFirst,
      user: 'user',
    });
    assert.deepEqual(exchange.final(rfc7677.clientFinal), { ok: true, serverFinal: rfc7677.serverFinal });
  });

  test('a wrong proof, a changed nonce, channel binding and bad names are refused', () => {
    const wrongProof = rfcExchange();
    wrongProof.first(rfc7677.clientFirst);
    const flipped = rfc7677.clientFinal.replace('p=dHzb', 'p=dHzc');
    assert.deepEqual(wrongProof.final(flipped), {
      ok: false,
      failure: 'credentials',
      detail: 'Invalid client credentials',
    });
    const nonce = rfcExchange();
    nonce.first(rfc7677.clientFirst);
    const other = nonce.final(rfc7677.clientFinal.replace('$k0,p=', '$k1,p='));
    assert.equal(other.ok === false && other.failure, 'malformed');
    const binding = rfcExchange();
    assert.equal(binding.first('p=tls-unique,,n=user,r=abc').ok, false);
    assert.equal(rfcExchange().first('n,,n=us=er,r=abc').ok, false, 'an = not followed by 2C or 3D');
    assert.equal(rfcExchange().first('n,a=other,n=user,r=abc').ok, false, 'another authorization id');
    const twice = rfcExchange();
    twice.first(rfc7677.clientFirst);
    twice.final(rfc7677.clientFinal);
    assert.equal(twice.final(rfc7677.clientFinal).ok, false, 'one exchange, one final message');
  });

  test('an unknown user gets a salt like any other, the same each time, and fails at the proof', () => {
    const lookup = () => undefined;
    const a = new ScramServerExchange('SCRAM-SHA-512', lookup);
    const b = new ScramServerExchange('SCRAM-SHA-512', lookup);
    const first = a.first('n,,n=nobody,r=abc');
    const again = b.first('n,,n=nobody,r=abc');
    assert.ok(first.ok && again.ok);
    const salt = (m: string) => m.split(',')[1];
    assert.equal(salt(first.serverFirst), salt(again.serverFirst));
    const client = new ScramClient('sha512', 'nobody', 'pw', 'abc');
    const final = a.final(client.final(first.serverFirst));
    assert.equal(final.ok === false && final.failure, 'credentials');
  });
});

describe('SCRAM credentials of users', () => {
  test('setting a password stores both mechanisms; they survive a restart; tags alone keep them', async () => {
    const storage = new MemoryStorage();
    let core = await BrokerCore.open({ storage });
    let admin = core.connect(internalContext('/'));
    await admin.putUser('app', 's3cret', ['management']);
    const made = admin.scramCredentials('app')!;
    assert.deepEqual(Object.keys(made).sort(), [...scramMechanisms]);
    for (const mechanism of scramMechanisms) {
      const credential = made[mechanism]!;
      assert.equal(credential.iterations, 4096);
      const hash = mechanism === 'SCRAM-SHA-256' ? 'sha256' : 'sha512';
      const salted = pbkdf2Sync('s3cret', credential.salt, 4096, hash === 'sha256' ? 32 : 64, hash);
      const expected = credentialFromSalted(mechanism, salted, credential.salt, 4096);
      assert.deepEqual(Buffer.from(credential.storedKey), Buffer.from(expected.storedKey));
      assert.deepEqual(Buffer.from(credential.serverKey), Buffer.from(expected.serverKey));
    }
    const hash = admin.getUser('app')!.passwordHash;
    await admin.putUser('app', { passwordHash: hash }, ['administrator']);
    assert.ok(admin.scramCredentials('app')?.['SCRAM-SHA-512'], 'a PUT of tags alone keeps them');
    await core.close();
    core = await BrokerCore.open({ storage });
    admin = core.connect(internalContext('/'));
    const back = admin.scramCredentials('app')!;
    assert.deepEqual(
      Buffer.from(back['SCRAM-SHA-256']!.storedKey),
      Buffer.from(made['SCRAM-SHA-256']!.storedKey),
    );
    await admin.putUser('app', { passwordHash: '' }, []);
    assert.deepEqual(admin.scramCredentials('app'), {}, 'another password (here none) drops them');
    await core.close();
  });

  test('a user stored without them gets them at its next password login', async () => {
    const core = await BrokerCore.open({ storage: new MemoryStorage() });
    const admin = core.connect(internalContext('/'));
    await admin.putUser('old', 'pw', []);
    const hash = admin.getUser('old')!.passwordHash;
    // As a user from before SCRAM keys were kept: the scrypt hash alone.
    await admin.putUser('old', { none: true }, []);
    await admin.putUser('old', { passwordHash: hash }, []);
    assert.deepEqual(admin.scramCredentials('old'), {});
    const gate = createAuthenticator(
      { defaultUser: 'guest', defaultPass: 'guest', loopbackOnlyUsers: [] },
      core,
    );
    const before = gate.scram('SCRAM-SHA-256', '127.0.0.1');
    const client = new ScramClient('sha256', 'old', 'pw');
    const serverFirst = await before.step(Buffer.from(client.first()));
    assert.equal(serverFirst.kind, 'challenge');
    const refused = await before.step(Buffer.from(client.final(text(serverFirst))));
    assert.equal(refused.kind === 'refused' && refused.reason, 'credentials');
    assert.equal((await gate.login('old', 'pw', '127.0.0.1')).ok, true);
    for (let i = 0; i < 200 && admin.scramCredentials('old')?.['SCRAM-SHA-512'] === undefined; i++)
      await new Promise((resolve) => setTimeout(resolve, 5));
    assert.deepEqual(Object.keys(admin.scramCredentials('old')!).sort(), [...scramMechanisms]);
    const after = gate.scram('SCRAM-SHA-512', '127.0.0.1');
    const again = new ScramClient('sha512', 'old', 'pw');
    const first = await after.step(Buffer.from(again.first()));
    const done = await after.step(Buffer.from(again.final(text(first))));
    assert.equal(done.kind, 'done');
    assert.equal(done.kind === 'done' && Buffer.from(done.message).toString(), again.expectedServerFinal);
    await gate.close();
    await core.close();
  });

  test('the gate refuses a loopback-only user from elsewhere at the first message', async () => {
    const core = await BrokerCore.open({ storage: new MemoryStorage() });
    const gate = createAuthenticator(
      { defaultUser: 'guest', defaultPass: 'guest', loopbackOnlyUsers: ['guest'] },
      core,
    );
    const exchange = gate.scram('SCRAM-SHA-256', '10.0.0.9');
    const step = await exchange.step(Buffer.from(new ScramClient('sha256', 'guest', 'guest').first()));
    assert.equal(step.kind === 'refused' && step.reason, 'loopback_only');
    await gate.close();
    await core.close();
  });
});

function text(step: { kind: string; message?: Uint8Array }): string {
  return Buffer.from(step.message ?? []).toString();
}
