/**
 * Messages past the KubeMQ limits are refused in words that name the limit. Before: a WebSocket
 * message past `jsonBytesMax` was answered with a bare close 1009 and nothing else, and a gRPC
 * request past the largest message got grpc-js's "Received message larger than max (N vs M)", which
 * names no setting.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { status } from '@grpc/grpc-js';
import WebSocket from 'ws';
import { kubemqListeners } from '../../../src/protocols/kubemq/index.js';
import {
  call,
  type KubemqTestBroker,
  rawClient,
  startKubemqBroker,
  utf8,
} from '../../../testing/kubemq-harness.js';

const jsonBytesMax = 64 * 1024;
const messageBytesMax = 64 * 1024;
/** The largest gRPC message: the largest body and 1 MiB for the other fields. */
const frameBytesMax = messageBytesMax + 1024 * 1024;

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

test('gRPC: a request past the largest message is RESOURCE_EXHAUSTED naming the size and messageBytesMax', async () => {
  const client = rawClient(server.address);
  try {
    const size = frameBytesMax + 4096;
    const event = { EventID: 'e', ClientID: 'c', Channel: 'big', Body: utf8('x'.repeat(size)) };
    const refused = await call(client, 'SendEvent', event).then(
      () => assert.fail('an oversized request was taken'),
      (err: { code: number; details: string }) => err,
    );
    assert.equal(refused.code, status.RESOURCE_EXHAUSTED);
    assert.match(
      refused.details,
      new RegExp(
        `^grpc: received message larger than max \\((\\d+) vs\\. ${frameBytesMax}\\): Switchyard takes ` +
          `KubeMQ messages of at most ${frameBytesMax} bytes, a body of messageBytesMax \\(${messageBytesMax}\\)`,
      ),
    );
    const announced = Number(/\((\d+) vs/.exec(refused.details)?.[1]);
    assert.ok(announced > size && announced < size + 100, `the size named, ${announced}, is the request's`);
    assert.ok((await call(client, 'Ping', {}))['Host'], 'the connection serves on');
  } finally {
    client.close();
  }
});
