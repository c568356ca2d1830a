/**
 * KIP-848 topic regular expressions (src/protocols/kafka/topic-regex.ts): RE2 syntax, whole-name
 * matches as Kafka's RE2/J `matches()`, RE2's refusals, and patterns that would make a backtracking
 * engine run for ages answering at once.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TopicRegex, TopicRegexError, topicRegexLengthMax } from '../../src/protocols/kafka/topic-regex.js';

const matches = (pattern: string, topic: string): boolean => new TopicRegex(pattern).matches(topic);

test('RE2 syntax matches whole topic names', () => {
  const cases: Array<[string, string, boolean]> = [
    ['^orders.*', 'orders-eu', true],
    ['orders', 'orders-eu', false],
    ['(^a.*)|(^b.*)', 'b1', true],
    ['(^a.*)|(^b.*)', 'c1', false],
    ['topic_[0-9]+', 'topic_12', true],
    ['topic_\\d{2,3}', 'topic_1234', false],
    ['(?i)ORDERS', 'orders', true],
    ['(?i)[^a]', 'A', false],
    ['[[:alpha:]]+\\.[[:digit:]]', 'abc.1', true],
    ['\\Qa.b\\E', 'axb', false],
    ['\\p{Greek}+', 'Ωμ', true],
    ['(?P<name>ab)+c?', 'abab', true],
    ['x{2}(?:y|z)*', 'xxyzy', true],
    ['\\x41\\x{42}', 'AB', true],
    ['\\bfoo\\b', 'foo', true],
    ['a|', '', true],
    ['.', '\n', false],
  ];
  for (const [pattern, topic, want] of cases)
    assert.equal(matches(pattern, topic), want, `${pattern} ~ ${topic}`);
});

test('what RE2 refuses is refused, and so is a pattern past the bounds', () => {
  const refused = ['(', ')', 'a**', '*a', '\\1', '(?=a)', '(?<!a)b', '\\Z', '[a', '[z-a]', '\\y', 'a{1001}'];
  for (const pattern of [...refused, '(a{1000}){1000}', 'a'.repeat(topicRegexLengthMax + 1)])
    assert.throws(() => new TopicRegex(pattern), TopicRegexError, pattern.slice(0, 20));
});

test('patterns that backtrack for ever in JavaScript answer at once', () => {
  const name = `${'a'.repeat(248)}!`;
  for (const pattern of ['(a|a)*b', '(a+)+b', '(.*)*(.*)*(.*)*x', '(a|aa)*c'.repeat(30), '(x+x+)+y'])
    assert.equal(matches(pattern, name), false, pattern);
});
