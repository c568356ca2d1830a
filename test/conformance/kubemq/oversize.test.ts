/**
 * Messages past the KubeMQ limits are refused in words that name the limit. Before: a WebSocket
 * message past `jsonBytesMax` was answered with a bare close 1009 and nothing else, and a gRPC
 * request past the largest message got grpc-js's "Received message larger than max (N vs M)", which
 * names no setting.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { kubemqListeners } from '../../../src/protocols/kubemq/index.js';
import { type KubemqTestBroker, startKubemqBroker } from '../../../testing/kubemq-harness.js';

const jsonBytesMax = 64 * 1024;
const messageBytesMax = 64 * 1024;

let server: KubemqTestBroker;
before(async () => {
  server = await startKubemqBroker({
    listeners: kubemqListeners({ limits: { jsonBytesMax, messageBytesMax } }),
  });
});
after(() => server.stop());

interface Ending {
  readonly messages: string[];
  readonly code: number;
  readonly reason: string;
}

/** Opens `path`, sends one text message of `bytes`, and waits (5 s at most) for the close. */
async function sendTooBig(path: string, bytes: number): Promise<Ending> {
  const ws = new WebSocket(`${server.ws}${path}`);
  await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
  const messages: string[] = [];
  ws.on('message', (data: Buffer) => messages.push(data.toString()));
  ws.send('x'.repeat(bytes));
  const timer = setTimeout(() => ws.terminate(), 5000);
  const [code, reason] = await new Promise<[number, string]>((resolve) =>
    ws.once('close', (closeCode: number, why: Buffer) => resolve([closeCode, why.toString()])),
  );
  clearTimeout(timer);
  return { messages, code, reason };
}

for (const path of ['/send/stream', '/subscribe/events?client_id=big&channel=big&subscribe_type=events']) {
  test(`WebSocket ${path.split('?')[0]}: a message past jsonBytesMax gets KubeMQ's error envelope, then 1009 naming the limit`, async () => {
    const ending = await sendTooBig(path, jsonBytesMax + 1);
    assert.equal(ending.code, 1009);
    assert.equal(ending.reason, `message over ${jsonBytesMax} bytes (jsonBytesMax)`);
    assert.equal(ending.messages.length, 1);
    const envelope = JSON.parse(ending.messages[0] ?? '{}') as Record<string, unknown>;
    assert.equal(envelope['is_error'], true);
    assert.match(String(envelope['message']), /message larger than 65536 bytes \(jsonBytesMax\)/);
    assert.equal(envelope['data'], null);
  });
}
