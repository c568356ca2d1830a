/** KubeMQ channel rules: validation in KubeMQ's order, and wildcard matching by its (NATS') rule. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  checkChannel,
  checkQueueName,
  corePattern,
  matches,
} from '../../../src/protocols/kubemq/channels.js';

test('* is one token, > one or more at the end; core gets * and #', () => {
  const cases: Array<[string, string, boolean]> = [
    ['a.*', 'a.b', true],
    ['a.*', 'a', false],
    ['a.*', 'a.b.c', false],
    ['a.>', 'a', false],
    ['a.>', 'a.b', true],
    ['a.>', 'a.b.c', true],
    ['>', 'x', true],
    ['*.b.>', 'a.b.c', true],
    ['*.b.>', 'a.b', false],
    ['a.#', 'a.b', false],
    ['a.#', 'a.#', true],
    ['a*', 'ab', false],
  ];
  for (const [pattern, channel, expected] of cases)
    assert.equal(matches(pattern, channel), expected, `${pattern} ~ ${channel}`);
  assert.equal(corePattern('a.*.>'), 'a.*.#');
  assert.equal(corePattern('a.>.b'), 'a.>.b');
});

test('validation reports the first broken rule with its KubeMQ text', () => {
  const wildcards = { wildcards: false };
  assert.throws(() => checkChannel('', wildcards), /^KubemqFailure: Error 102/);
  assert.throws(() => checkChannel('a b.', wildcards), /Error 119/, 'the trailing dot is checked first');
  assert.throws(() => checkChannel('a\nb', wildcards), /Error 108/);
  assert.throws(() => checkChannel('a.>', wildcards), /Error 107/);
  assert.throws(() => checkChannel('a.>.b', { wildcards: true }), /Error 107/, '> only at the end');
  assert.throws(() => checkChannel('x'.repeat(256), wildcards), /longer than 255 bytes/);
  checkChannel('a.*.>', { wildcards: true });
  for (const bad of ['', 'q.', 'q q', 'q.*', 'q>']) assert.throws(() => checkQueueName(bad), /Error 120/);
});
