/**
 * HTTP/1.1 request text for the fuzzers of the admin API and of the WebSocket upgrade: splitting a
 * connection's bytes into requests, fixing Content-Length, and text mutations of the request line and
 * headers (the byte-level operators know nothing of text).
 */
import { concat } from '../dialect.js';
import type { Random } from '../random.js';

const headEnd = Buffer.from('\r\n\r\n');

/** Offset just past the blank line ending the head at `from`, or -1. */
export function headEndAt(bytes: Uint8Array, from = 0): number {
  const at = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).indexOf(headEnd, from);
  return at === -1 ? -1 : at + headEnd.byteLength;
}

export function contentLength(head: string): number {
  const match = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  return match === null ? 0 : Number(match[1]);
}

/** Cuts requests: each is its head plus a Content-Length body. */
export function splitRequests(bytes: Uint8Array): Uint8Array[] {
  const requests: Uint8Array[] = [];
  let at = 0;
  while (at < bytes.byteLength) {
    const end = headEndAt(bytes, at);
    if (end === -1) {
      requests.push(bytes.slice(at));
      break;
    }
    const body = contentLength(Buffer.from(bytes.subarray(at, end)).toString('latin1'));
    const stop = Math.min(end + body, bytes.byteLength);
    requests.push(bytes.slice(at, stop));
    at = stop;
  }
  return requests;
}

/** Sets Content-Length to the body that follows the head, when the request has one. */
export function repairRequest(frame: Uint8Array): Uint8Array {
  const end = headEndAt(frame);
  if (end === -1) return frame;
  const head = Buffer.from(frame.subarray(0, end)).toString('latin1');
  if (!/\r\ncontent-length:/i.test(head)) return frame;
  const fixed = head.replace(/(\r\ncontent-length:\s*)[^\r]*/i, `$1${frame.byteLength - end}`);
  return concat([Buffer.from(fixed, 'latin1'), frame.subarray(end)]);
}

const methods = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT', 'PATCH', 'G ET', ''];
const paths = [
  '/api/queues/%2F',
  '/api/queues/%ZZ',
  '/api/queues/%FF%FE',
  '/api/exchanges/%2F/x/y',
  '/api/bindings/%E2%82',
  '/api//overview',
  '/api/vhosts?x=1#f',
  '/metrics?',
  '*',
  'http://example/api/health',
  '/%00',
  `/api/${'a/'.repeat(600)}`,
  `/${'x'.repeat(3000)}`,
  '/api/queues/%2F%2F..%2F..',
  '/mqtt',
];
const headers = [
  'Transfer-Encoding: chunked',
  'Transfer-Encoding: chunked\r\nContent-Length: 5',
  'Content-Length: -1',
  'Content-Length: 99999999999999999999',
  'Content-Length: 5\r\nContent-Length: 6',
  'Expect: 100-continue',
  'Connection: close',
  'Connection: upgrade\r\nUpgrade: websocket',
  'Sec-WebSocket-Version: 99',
  'Sec-WebSocket-Key: !!',
  'Sec-WebSocket-Protocol: mqttv3.1, nope',
  'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=8',
  `X-Long: ${'v'.repeat(20_000)}`,
  'Host:',
  'Bad Header',
  ':',
];

function replaceRequestLine(text: string, random: Random): string {
  const lineEnd = text.indexOf('\r\n');
  const [method = 'GET', path = '/', version = 'HTTP/1.1'] = text
    .slice(0, lineEnd === -1 ? undefined : lineEnd)
    .split(' ');
  const parts = [method, path, version];
  const which = random.below(3);
  if (which === 0) parts[0] = random.pick(methods);
  else if (which === 1) parts[1] = random.pick(paths);
  else parts[2] = random.pick(['HTTP/1.0', 'HTTP/2.0', 'HTTP/1.1x', 'HTTP/9', '']);
  return parts.join(' ') + (lineEnd === -1 ? '' : text.slice(lineEnd));
}

function insertHeader(text: string, random: Random): string {
  const lineEnd = text.indexOf('\r\n');
  if (lineEnd === -1) return text;
  return `${text.slice(0, lineEnd)}\r\n${random.pick(headers)}${text.slice(lineEnd)}`;
}

function dropHeader(text: string, random: Random): string {
  const lines = text.split('\r\n');
  if (lines.length > 3) lines.splice(1 + random.below(lines.length - 3), 1);
  return lines.join('\r\n');
}

function chunkedBody(text: string, random: Random): string {
  const end = text.indexOf('\r\n\r\n');
  if (end === -1) return text;
  const body = random.pick([
    '5\r\nhello\r\n0\r\n\r\n',
    'zz\r\n',
    `${'f'.repeat(20)}\r\n`,
    '0\r\n\r\n',
    '1\r\n',
  ]);
  return `${text.slice(0, end)}\r\nTransfer-Encoding: chunked\r\n\r\n${body}`;
}

/** Text operators over one request. */
export const httpTextMutations: ReadonlyArray<(frame: Uint8Array, random: Random) => Uint8Array> = [
  replaceRequestLine,
  insertHeader,
  dropHeader,
  chunkedBody,
].map((op) => (frame: Uint8Array, random: Random) => {
  const text = Buffer.from(frame).toString('latin1');
  return Uint8Array.from(Buffer.from(op(text, random), 'latin1'));
});
