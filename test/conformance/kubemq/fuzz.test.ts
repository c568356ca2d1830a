/**
 * Mutation fuzzing of both faces: valid requests with bytes flipped, cut short or grown, sent to every
 * RPC as raw protobuf and to every REST path as JSON. Whatever comes back, the broker keeps answering
 * (a ping after each round) and nothing escapes to the process. Bounded in count; seeded, so a failure
 * repeats.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { credentials, makeGenericClientConstructor, type ServiceError } from '@grpc/grpc-js';
import { kubemqService } from '../../../src/protocols/kubemq/proto.js';
import {
  call,
  type KubemqTestBroker,
  rawClient,
  rest,
  startKubemqBroker,
  utf8,
} from '../../../testing/kubemq-harness.js';
import { eachConcurrently } from '../../../testing/wait.js';

let server: KubemqTestBroker;
before(async () => {
  server = await startKubemqBroker();
});
after(() => server.stop());

const roundsPerTarget = 40;
/**
 * Rounds of one target in flight at once: many mutated requests keep a wait (WaitTimeSeconds, a
 * request's Timeout) that the broker serves in full, so one at a time their waits added up to seconds
 * per target. The mutated bytes are drawn in the same order as before, so a seed gives the same requests.
 */
const roundsInFlightMax = 8;
/** A mutated wait can ask for an hour: the client gives up sooner, which the broker must take too. */
const requestTimeoutMs = 2000;

/** A small deterministic generator (mulberry32), so a failing case can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function mutate(bytes: Buffer, next: () => number): Buffer {
  const out = Buffer.from(bytes);
  const kind = Math.floor(next() * 4);
  if (kind === 0 && out.length > 0) out.subarray(0, Math.floor(next() * out.length)).copy(out);
  if (kind === 1) return out.subarray(0, Math.floor(next() * out.length));
  if (kind === 2)
    return Buffer.concat([
      out,
      Buffer.from(Array.from({ length: 1 + Math.floor(next() * 16) }, () => Math.floor(next() * 256))),
    ]);
  for (let i = 0; i < 1 + Math.floor(next() * 4) && out.length > 0; i++)
    out[Math.floor(next() * out.length)] = Math.floor(next() * 256);
  return out;
}

const seeds: Record<string, object> = {
  SendEvent: {
    EventID: 'e',
    ClientID: 'c',
    Channel: 'fz.a',
    Metadata: 'm',
    Body: utf8('body'),
    Tags: { k: 'v' },
  },
  SendRequest: {
    RequestID: 'r',
    RequestTypeData: 1,
    ClientID: 'c',
    Channel: 'fz.r',
    Body: utf8('x'),
    Timeout: 50,
  },
  SendResponse: { ClientID: 'c', RequestID: 'r', ReplyChannel: 'fz.reply', Executed: true },
  SendQueueMessage: {
    MessageID: 'm',
    ClientID: 'c',
    Channel: 'fz.q',
    Body: utf8('x'),
    Policy: { DelaySeconds: 1 },
  },
  SendQueueMessagesBatch: { BatchID: 'b', Messages: [{ ClientID: 'c', Channel: 'fz.q', Body: utf8('x') }] },
  ReceiveQueueMessages: {
    ClientID: 'c',
    Channel: 'fz.q',
    MaxNumberOfMessages: 1,
    WaitTimeSeconds: 1,
    IsPeak: true,
  },
  AckAllQueueMessages: { ClientID: 'c', Channel: 'fz.none', WaitTimeSeconds: 1 },
  QueuesInfo: { RequestID: 'i', QueueName: 'fz.q' },
  Ping: {},
};

test('unary RPCs: mutated protobuf requests get an answer or a status, the broker stays up', async () => {
  const service = kubemqService();
  const Raw = makeGenericClientConstructor({}, 'kubemq');
  const client = new Raw(server.address, credentials.createInsecure());
  const ping = rawClient(server.address);
  const next = random(7);
  for (const [rpc, request] of Object.entries(seeds)) {
    const method = service[rpc]!;
    const valid = method.requestSerialize(request) as Buffer;
    const mutated = Array.from({ length: roundsPerTarget }, () => mutate(valid, next));
    await eachConcurrently(
      mutated,
      roundsInFlightMax,
      (bytes) =>
        new Promise<void>((resolve) =>
          client.makeUnaryRequest(
            method.path,
            (b: Buffer) => b,
            (b: Buffer) => b,
            bytes,
            { deadline: Date.now() + requestTimeoutMs },
            (_err: ServiceError | null) => resolve(),
          ),
        ),
    );
    assert.ok((await call(ping, 'Ping', {}))['Host'], `still serving after ${rpc}`);
  }
  client.close();
  ping.close();
});

test('REST paths: mutated JSON bodies get an envelope, the broker stays up', async () => {
  const paths = [
    '/send/event',
    '/send/request',
    '/send/response',
    '/queue/send',
    '/queue/send_batch',
    '/queue/receive',
    '/queue/ack_all',
  ];
  const body = JSON.stringify({
    ClientID: 'c',
    Channel: 'fz.rest',
    Body: 'aGk=',
    Timeout: 50,
    RequestTypeData: 1,
    MaxNumberOfMessages: 1,
    WaitTimeSeconds: 1,
    Messages: [{ ClientID: 'c', Channel: 'fz.rest', Body: 'aGk=' }],
  });
  const next = random(11);
  for (const path of paths) {
    const bodies = Array.from({ length: roundsPerTarget }, () =>
      mutate(Buffer.from(body), next).toString('latin1'),
    );
    await eachConcurrently(bodies, roundsInFlightMax, async (mutated) => {
      const response = await fetch(`${server.rest}${path}`, {
        method: 'POST',
        body: mutated,
        signal: AbortSignal.timeout(requestTimeoutMs),
      }).catch((err: unknown) => err);
      if (response instanceof Error) return;
      assert.ok([200, 400, 413].includes((response as Response).status), `${path} answered`);
      const parsed = (await (response as Response).json()) as { is_error: boolean };
      assert.equal(typeof parsed.is_error, 'boolean');
    });
    assert.equal((await rest(server.rest, '/ping')).is_error, false, `still serving after ${path}`);
  }
});
