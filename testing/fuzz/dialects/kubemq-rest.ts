/**
 * KubeMQ's REST and WebSocket port for the fuzzer: a session is either HTTP/1.1 requests with JSON
 * bodies (fetch) or a WebSocket upgrade followed by masked text frames of JSON (ws). Mutations reach
 * the request text (./http-text.ts), the WebSocket frame header (./ws.ts), and the JSON inside a body or
 * a frame: a value replaced by an awkward one (huge numbers and strings, null, wrong types, deep
 * nesting, NUL, wildcards), a key dropped or doubled.
 */
import { concat, type Dialect } from '../dialect.js';
import type { Random } from '../random.js';
import { headEndAt, httpTextMutations, repairRequest, splitRequests } from './http-text.js';
import { frameLike, shape, splitWebSocket, unwrap, webSocketFields } from './ws.js';

/** An HTTP request starts with a method: uppercase ASCII. A client WebSocket frame's first byte is not. */
function isHttp(frame: Uint8Array): boolean {
  return frame.byteLength > 0 && frame[0]! >= 0x41 && frame[0]! <= 0x5a;
}

function isUpgrade(bytes: Uint8Array): boolean {
  const end = headEndAt(bytes);
  const head = Buffer.from(bytes.subarray(0, end === -1 ? Math.min(bytes.byteLength, 4096) : end)).toString(
    'latin1',
  );
  return head.startsWith('GET ') && /\r\nupgrade:\s*websocket/i.test(head);
}

const awkward: readonly unknown[] = [
  null,
  true,
  0,
  -1,
  1.5,
  2 ** 31,
  2 ** 53 + 2,
  -(2 ** 63),
  1e308,
  '',
  'x'.repeat(70_000),
  '\u0000',
  '*',
  '>',
  'a b',
  'ends.with.',
  '-1',
  '9'.repeat(30),
  '%%%',
  '!!not base64!!',
  [],
  {},
  [[[[[[[[[[]]]]]]]]]],
  { a: { b: { c: { d: {} } } } },
  Array.from({ length: 1000 }, (_, i) => ({ Channel: `c${i}` })),
];

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Every place a value sits, to a few levels deep. */
function places(
  value: Json,
  path: Array<string | number>,
  out: Array<Array<string | number>>,
  depth: number,
) {
  if (depth > 4 || value === null || typeof value !== 'object') return;
  const entries: Array<[string | number, Json]> = Array.isArray(value)
    ? value.slice(0, 8).map((v, i) => [i, v])
    : Object.entries(value).slice(0, 32);
  for (const [key, child] of entries) {
    out.push([...path, key]);
    places(child, [...path, key], out, depth + 1);
  }
}

function mutateJsonText(text: string, random: Random): string {
  let value: Json;
  try {
    value = JSON.parse(text) as Json;
  } catch {
    return text;
  }
  const all: Array<Array<string | number>> = [];
  places(value, [], all, 0);
  if (all.length === 0) return JSON.stringify(random.pick(awkward));
  const path = random.pick(all);
  const key = path[path.length - 1]!;
  let parent = value as Record<string | number, Json>;
  for (const step of path.slice(0, -1)) parent = parent[step] as Record<string | number, Json>;
  const roll = random.below(10);
  if (roll === 0 && !Array.isArray(parent)) delete parent[key];
  else if (roll === 1) return `${JSON.stringify(value).slice(0, -1)},${JSON.stringify(String(key))}:null}`;
  else parent[key] = random.pick(awkward) as Json;
  return JSON.stringify(value);
}

/** The JSON of an HTTP body or a WebSocket frame, mutated; the frame re-framed. */
function mutateJson(frame: Uint8Array, random: Random): Uint8Array {
  if (isHttp(frame)) {
    const end = headEndAt(frame);
    if (end === -1 || end === frame.byteLength) return frame;
    const body = mutateJsonText(Buffer.from(frame.subarray(end)).toString('utf8'), random);
    return repairRequest(concat([frame.subarray(0, end), Buffer.from(body)]));
  }
  const payload = unwrap(frame);
  if (payload === undefined) return frame;
  return frameLike(frame, Buffer.from(mutateJsonText(Buffer.from(payload).toString('utf8'), random)));
}

export const kubemqRestDialect: Dialect = {
  name: 'kubemq-rest',
  split: (bytes) => (isUpgrade(bytes) ? splitWebSocket(bytes) : splitRequests(bytes)),
  context: () => undefined,
  fields: (frame) => (isHttp(frame) ? [] : webSocketFields(frame)),
  repair(frame) {
    if (isHttp(frame)) return repairRequest(frame);
    const s = shape(frame);
    if (s === undefined) return frame;
    return frameLike(frame, unwrap(frame) ?? frame.subarray(s.headerBytes));
  },
  opening: (frames) => (frames.length > 0 && isUpgrade(frames[0]!) ? 1 : 0),
  extraMutations: [
    ...httpTextMutations.map(
      (op) => (frame: Uint8Array, random: Random) => (isHttp(frame) ? op(frame, random) : frame),
    ),
    mutateJson,
    mutateJson,
  ],
};
