/**
 * Refused logins are logged with their source address, at most ten a second; a flood is summed up in
 * one line instead of one line per guess. Driven through the login gate itself with a manual clock.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import pino from 'pino';
import { createAuthenticator } from '../../src/server/auth.js';
import { failedLoginLinesPerSecondMax } from '../../src/server/failed-logins.js';

interface Line {
  readonly msg: string;
  readonly user?: string;
  readonly address?: string;
  readonly reason?: string;
  readonly suppressed?: number;
}

function capture(): { logger: pino.Logger; lines: Line[] } {
  const lines: Line[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Line);
      done();
    },
  });
  return { logger: pino({ level: 'info' }, sink), lines };
}

const config = {
  defaultUser: 'guest',
  defaultPass: 'guest',
  loopbackOnlyUsers: ['guest'],
  passwordHashThreads: 1,
};
const settle = () => new Promise((resolve) => setImmediate(resolve));

test('a refused login is logged with its user, address and reason', async () => {
  const { logger, lines } = capture();
  const gate = createAuthenticator(config, undefined, logger, () => 0);
  try {
    assert.equal((await gate.login('guest', 'wrong', '127.0.0.1')).ok, false);
    assert.equal((await gate.login('guest', 'guest', '10.1.2.3')).ok, false);
    assert.equal(gate.anonymous?.('10.1.2.4').ok, false);
    assert.equal((await gate.login('guest', 'guest', '127.0.0.1')).ok, true);
    await settle();
    assert.deepEqual(
      lines.map((l) => [l.msg, l.user, l.address, l.reason]),
      [
        ['login refused', 'guest', '127.0.0.1', 'credentials'],
        ['login refused', 'guest', '10.1.2.3', 'loopback_only'],
        ['login refused', '', '10.1.2.4', 'anonymous'],
      ],
    );
  } finally {
    await gate.close();
  }
});

test('a flood of refused logins is logged ten a second, the rest counted in one line', async () => {
  const { logger, lines } = capture();
  let nowMs = 0;
  const gate = createAuthenticator(config, undefined, logger, () => nowMs);
  try {
    for (let i = 0; i < 500; i++) await gate.login('guest', 'guest', '192.0.2.7');
    nowMs = 1000;
    await gate.login('guest', 'guest', '192.0.2.7');
    await settle();
    const refused = lines.filter((l) => l.msg === 'login refused');
    const summaries = lines.filter((l) => l.suppressed !== undefined);
    assert.equal(
      refused.length,
      failedLoginLinesPerSecondMax + 1,
      'ten in the first second, one in the next',
    );
    assert.deepEqual(
      summaries.map((l) => l.suppressed),
      [500 - failedLoginLinesPerSecondMax],
    );
  } finally {
    await gate.close();
  }
});
