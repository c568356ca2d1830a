import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRouter, headersMatch as matchList, TopicMatcher } from '../../src/core/routing/index.js';
import { KeyIndex } from '../../src/core/routing/key-index.js';
import { type HeaderList, type Headers, type HeaderValue, headerList } from '../../src/core/types.js';
import { ErrorCode, isBrokerError } from '../../src/shared/errors.js';

/** Binding arguments against a message whose headers are this table (no repeated names). */
function headersMatch(args: Headers, table: Headers): boolean {
  return matchList(args, headerList(table));
}

function topicMatches(pattern: string, key: string): boolean {
  const matcher = new TopicMatcher<string>();
  matcher.add(pattern, 'x');
  return matcher.match(key).has('x');
}

/** The reference: one regular expression per pattern over '.'-prefixed words. */
function naiveTopicMatches(pattern: string, key: string): boolean {
  const words = pattern === '' ? [] : pattern.split('.');
  const body = words
    .map((word) => {
      if (word === '#') return '(?:\\.[^.]*)*';
      if (word === '*') return '\\.[^.]*';
      return `\\.${word.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')}`;
    })
    .join('');
  const subject = key === '' ? '' : `.${key}`;
  return new RegExp(`^${body}$`).test(subject);
}

const cases: Array<[string, string, boolean]> = [
  ['a.b.c', 'a.b.c', true],
  ['a.b.c', 'a.b', false],
  ['a.*.c', 'a.b.c', true],
  ['a.*.c', 'a.c', false],
  ['a.*', 'a', false],
  ['*', '', false],
  ['#', '', true],
  ['#', 'a.b.c', true],
  ['a.#', 'a', true],
  ['a.#', 'a.b.c', true],
  ['a.#', 'b.a', false],
  ['#.c', 'a.b.c', true],
  ['a.#.c', 'a.c', true],
  ['a.#.c', 'a.x.y.c', true],
  ['a.#.c', 'a.x.y.d', false],
  ['#.#', 'a', true],
  ['*.#', '', false],
  ['a.*.#', 'a.b', true],
  ['a..b', 'a..b', true],
  ['a.*.b', 'a..b', true],
  ['', '', true],
  ['', 'a', false],
  ['stock.usd.*', 'stock.usd.nyse', true],
  ['*.orange.*', 'quick.orange.rabbit', true],
  ['*.*.rabbit', 'lazy.orange.elephant', false],
  ['lazy.#', 'lazy.orange.male.rabbit', true],
];
for (const [pattern, key, expected] of cases) {
  test(`'${pattern}' ${expected ? 'matches' : 'does not match'} '${key}'`, () => {
    assert.equal(topicMatches(pattern, key), expected);
    assert.equal(naiveTopicMatches(pattern, key), expected);
  });
}

test('topic matcher: returns each value once even when several patterns match', () => {
  const matcher = new TopicMatcher<string>();
  matcher.add('a.#', 'q1');
  matcher.add('a.*', 'q1');
  matcher.add('#', 'q2');
  assert.deepEqual([...matcher.match('a.b')].sort(), ['q1', 'q2']);
});

test('topic matcher: remove prunes and later matches stop seeing the value', () => {
  const matcher = new TopicMatcher<string>();
  assert.equal(matcher.add('a.*.c', 'q'), true);
  assert.equal(matcher.add('a.*.c', 'q'), false);
  assert.equal(matcher.match('a.b.c').has('q'), true);
  assert.equal(matcher.remove('a.*.c', 'q'), true);
  assert.equal(matcher.remove('a.*.c', 'q'), false);
  assert.equal(matcher.match('a.b.c').has('q'), false);
  assert.equal(matcher.size, 0);
});

test('topic matcher: agrees with the naive regex matcher on random patterns and keys', () => {
  const alphabet = ['a', 'b', 'c', '', '*', '#'];
  let seed = 12345;
  const random = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const words = (max: number, wild: boolean): string => {
    const count = random(max + 1);
    const out: string[] = [];
    for (let i = 0; i < count; i++) out.push(alphabet[random(wild ? 6 : 4)]!);
    return out.join('.');
  };
  const matcher = new TopicMatcher<number>();
  const patterns: string[] = [];
  for (let i = 0; i < 300; i++) {
    const pattern = words(5, true);
    patterns.push(pattern);
    matcher.add(pattern, i);
  }
  for (let k = 0; k < 2000; k++) {
    const key = words(6, false);
    const expected = patterns.flatMap((p, i) => (naiveTopicMatches(p, key) ? [i] : []));
    assert.deepEqual(
      [...matcher.match(key)].sort((x, y) => x - y),
      expected,
      `key '${key}'`,
    );
  }
});

test('topic matcher: stays fast with many bindings (bounded work, no timing assertion)', () => {
  const matcher = new TopicMatcher<number>();
  for (let i = 0; i < 20_000; i++) matcher.add(`sensor.${i}.*`, i);
  matcher.add('sensor.#', -1);
  assert.deepEqual(
    [...matcher.match('sensor.42.temp')].sort((x, y) => x - y),
    [-1, 42],
  );
});

const route = (type: 'direct' | 'fanout' | 'topic' | 'headers', key: string, headers?: Headers) => {
  const found = new Set<string>();
  routers[type].route(key, headers === undefined ? undefined : headerList(headers), found);
  return [...found].sort();
};
const routers = {
  direct: createRouter('direct'),
  fanout: createRouter('fanout'),
  topic: createRouter('topic'),
  headers: createRouter('headers'),
};
routers.direct.add({ destination: 'q1', routingKey: 'k1', args: {} });
routers.direct.add({ destination: 'q2', routingKey: 'k1', args: {} });
routers.direct.add({ destination: 'q3', routingKey: 'k2', args: {} });
routers.fanout.add({ destination: 'q1', routingKey: 'ignored', args: {} });
routers.fanout.add({ destination: 'q2', routingKey: '', args: {} });
routers.topic.add({ destination: 'q1', routingKey: 'a.*', args: {} });
routers.topic.add({ destination: 'q2', routingKey: 'a.#', args: {} });
routers.headers.add({ destination: 'all', routingKey: '', args: { 'x-match': 'all', a: 1, b: 'x' } });
routers.headers.add({ destination: 'any', routingKey: '', args: { 'x-match': 'any', a: 1, b: 'x' } });

test('exchange routers: direct routes on the exact key', () => {
  assert.deepEqual(route('direct', 'k1'), ['q1', 'q2']);
  assert.deepEqual(route('direct', 'k2'), ['q3']);
  assert.deepEqual(route('direct', 'k'), []);
});

test('exchange routers: fanout ignores the key', () => {
  assert.deepEqual(route('fanout', 'anything'), ['q1', 'q2']);
});

test('exchange routers: topic uses wildcards', () => {
  assert.deepEqual(route('topic', 'a.b'), ['q1', 'q2']);
  assert.deepEqual(route('topic', 'a.b.c'), ['q2']);
  assert.deepEqual(route('topic', 'b'), []);
});

test('exchange routers: headers all / any', () => {
  assert.deepEqual(route('headers', '', { a: 1, b: 'x', c: true }), ['all', 'any']);
  assert.deepEqual(route('headers', '', { a: 1 }), ['any']);
  assert.deepEqual(route('headers', '', { a: 2 }), []);
  assert.deepEqual(route('headers', ''), []);
});

test('exchange routers: duplicate bindings are refused and a binding with other args is another binding', () => {
  const router = createRouter('direct');
  assert.equal(router.add({ destination: 'q', routingKey: 'k', args: {} }), true);
  assert.equal(router.add({ destination: 'q', routingKey: 'k', args: {} }), false);
  assert.equal(router.add({ destination: 'q', routingKey: 'k', args: { x: 1 } }), true);
  assert.equal(router.remove({ destination: 'q', routingKey: 'k', args: {} }), true);
  const found = new Set<string>();
  router.route('k', undefined, found);
  assert.deepEqual([...found], ['q']);
  assert.equal(router.remove({ destination: 'q', routingKey: 'k', args: { x: 1 } }), true);
  assert.equal(router.hasDestination('q'), false);
  assert.equal(router.size, 0);
});

test('headers matching: x- keys are ignored in all/any and used in the -with-x modes', () => {
  assert.equal(headersMatch({ 'x-match': 'all', 'x-tag': 1 }, {}), true);
  assert.equal(headersMatch({ 'x-match': 'any', 'x-tag': 1 }, { 'x-tag': 1 }), false);
  assert.equal(headersMatch({ 'x-match': 'all-with-x', 'x-tag': 1 }, {}), false);
  assert.equal(headersMatch({ 'x-match': 'all-with-x', 'x-tag': 1 }, { 'x-tag': 1 }), true);
  assert.equal(headersMatch({ 'x-match': 'any-with-x', 'x-tag': 1, a: 2 }, { 'x-tag': 1 }), true);
});

test('headers matching: default mode is all; null binding values match presence', () => {
  assert.equal(headersMatch({ a: null }, { a: 'anything' }), true);
  assert.equal(headersMatch({ a: null }, { b: 1 }), false);
  assert.equal(headersMatch({ a: 1, b: 2 }, { a: 1 }), false);
});

test('headers matching: values compare structurally across number kinds, bytes and dates', () => {
  assert.equal(headersMatch({ n: 5 }, { n: 5n }), true);
  assert.equal(headersMatch({ b: new Uint8Array([1, 2]) }, { b: new Uint8Array([1, 2]) }), true);
  assert.equal(headersMatch({ d: new Date(5) }, { d: new Date(5) }), true);
  assert.equal(headersMatch({ s: '1' }, { s: 1 }), false);
  assert.equal(headersMatch({ t: { a: [1, 'x'] } }, { t: { a: [1, 'x'] } }), true);
});

test('headers matching: a repeated header name matches when any of its values does', () => {
  const repeated: HeaderList = [
    ['a', '1'],
    ['b', 'two'],
    ['a', '3'],
  ];
  assert.equal(matchList({ a: '3' }, repeated), true);
  assert.equal(matchList({ a: '1', b: 'two' }, repeated), true);
  assert.equal(matchList({ a: '2' }, repeated), false);
});

test('headers matching: an invalid x-match is refused at bind time', () => {
  const router = createRouter('headers');
  assert.throws(
    () => router.add({ destination: 'q', routingKey: '', args: { 'x-match': 'some' } }),
    (err) => isBrokerError(err, ErrorCode.preconditionFailed),
  );
});

test('key index: finds the keys a pattern matches, as the topic matcher would, in the order they were added', () => {
  const alphabet = ['a', 'b', 'c', ''];
  let seed = 777;
  const random = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const words = (max: number, from: readonly string[]): string => {
    const count = random(max + 1);
    return Array.from({ length: count }, () => from[random(from.length)]!).join('.');
  };
  const index = new KeyIndex();
  const keys: string[] = [];
  for (let i = 0; i < 400; i++) {
    const key = words(5, alphabet);
    if (keys.includes(key)) continue;
    keys.push(key);
    index.add(key);
  }
  const removed = keys.splice(0, 40);
  for (const key of removed) index.remove(key);
  assert.equal(index.size, keys.length);
  for (let p = 0; p < 1000; p++) {
    const pattern = words(5, [...alphabet, '*', '#']);
    assert.deepEqual(
      index.match(pattern),
      keys.filter((key) => naiveTopicMatches(pattern, key)),
      `pattern '${pattern}'`,
    );
  }
});

test('headers exchange: a publish reads its headers once, however many bindings ask about them', () => {
  const router = createRouter('headers');
  const bindings = 1000;
  for (let i = 0; i < bindings; i++) {
    router.add({
      destination: `q${i}`,
      routingKey: '',
      args: { 'x-match': 'any', [`h${i}`]: i, [`k${i}`]: null },
    });
  }
  const entries: Array<[string, HeaderValue]> = Array.from({ length: 1000 }, (_, i) => [`z${i}`, i]);
  entries.push(['h7', 7], ['k9', 'present']);
  let reads = 0;
  const counted = new Proxy(entries, {
    get(target, property, receiver) {
      if (typeof property === 'string' && /^\d+$/.test(property)) reads++;
      return Reflect.get(target, property, receiver);
    },
  });
  const found = new Set<string>();
  router.route('', counted, found);
  assert.deepEqual([...found].sort(), ['q7', 'q9']);
  // Once per header; asking the list per binding and pair read it 2,000 times over.
  assert.ok(reads <= entries.length, `read ${reads} headers`);
});
