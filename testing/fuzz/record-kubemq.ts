/**
 * The KubeMQ sessions `npm run fuzz:record` records (testing/fuzz/record.ts): kubemq-js 1.2.3 and a
 * raw grpc-js client on the gRPC port, Node's fetch and ws on the REST port. Logins vary on purpose:
 * none (the loopback guest), `Basic guest:guest`, and a bearer token (./jwt.ts), so mutations reach each.
 *
 * HTTP/2 is written by Node's native session, not through `net.Socket#write`, so the gRPC clients talk
 * to the broker through `grpcProxy`, a TCP relay in the recorder's process whose writes to the broker
 * are what the recorder's tap sees: exactly the bytes the client wrote.
 */
import { connect, createServer, type Server } from 'node:net';
import { CommandsClient, EventStoreType, EventsClient, EventsStoreClient, QueuesClient } from 'kubemq-js';
import { WebSocket } from 'ws';
import { call, collectStream, rawClient } from '../kubemq-harness.js';
import { basicAuth } from '../server-helpers.js';
import { fuzzToken } from './jwt.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const utf8 = (text: string) => new TextEncoder().encode(text);
const b64 = (text: string) => Buffer.from(text).toString('base64');

/** A TCP relay to `targetPort`; each client connection gets one connection to the broker. */
export async function grpcProxy(targetPort: number): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    client.pipe(upstream);
    upstream.pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

const options = (address: string, clientId: string, authToken?: string) => ({
  address,
  clientId,
  reconnectInterval: 0,
  ...(authToken === undefined ? {} : { authToken }),
});

/** Events: sends, a wildcard subscription that receives them, a stream of sends (`Basic guest:guest`). */
export async function grpcEvents(address: string): Promise<void> {
  const events = new EventsClient(options(address, 'fz-events', basicAuth()));
  let got = 0;
  const subscription = await events.subscribe({ channel: 'fz.ev.>' }, (err) => {
    if (err === null) got++;
  });
  await sleep(200);
  for (let i = 0; i < 3; i++)
    await events.send({ channel: `fz.ev.${i}`, body: utf8(`event ${i}`), metadata: 'm' });
  const stream = await events.stream(() => {});
  stream.write({ channel: 'fz.ev.stream', body: utf8('streamed') });
  stream.write({ channel: 'bad.', body: utf8('refused') });
  await sleep(200);
  stream.end();
  while (got < 3) await sleep(20);
  subscription.unsubscribe();
  await sleep(1200);
  events.close();
}

/** The events store from a bearer token: sends, a subscription from the first event, a stream. */
export async function grpcEventsStore(address: string): Promise<void> {
  const store = new EventsStoreClient(options(address, 'fz-store', `Bearer ${fuzzToken()}`));
  for (let i = 0; i < 3; i++) await store.send({ channel: 'fz.store', body: utf8(`stored ${i}`) });
  let got = 0;
  const subscription = await store.subscribe(
    { channel: 'fz.store', requestType: EventStoreType.StartFromFirst },
    (err) => {
      if (err === null) got++;
    },
  );
  while (got < 3) await sleep(20);
  subscription.unsubscribe();
  await sleep(1200);
  store.close();
}

/** Queues without a token: send, batch, peek, pull, ack all, and a transaction acked. */
export async function grpcQueues(address: string): Promise<void> {
  const queues = new QueuesClient(options(address, 'fz-queues'));
  await queues.send({
    channel: 'fz.q',
    body: utf8('one'),
    metadata: 'meta',
    policy: { expirationSeconds: 600, delaySeconds: 0, maxReceiveCount: 3, maxReceiveQueue: 'fz.dlq' },
  });
  await queues.batch([2, 3, 4].map((n) => ({ channel: 'fz.q', body: utf8(`m${n}`) })));
  await queues.peek({ channel: 'fz.q', maxNumberOfMessages: 2, waitTimeoutSeconds: 1 });
  await queues.pull({ channel: 'fz.q', maxNumberOfMessages: 2, waitTimeoutSeconds: 1 });
  await new Promise<void>((resolve, reject) => {
    void queues
      .transaction({ channel: 'fz.q', visibilitySeconds: 10, waitTimeoutSeconds: 2 }, (err, msg) => {
        // kubemq-js calls back once the request is written too, with neither.
        if (err) return reject(err);
        if (msg) msg.ack().then(resolve, reject);
      })
      .catch(reject);
  });
  await queues.ackAll({ channel: 'fz.q', waitTimeoutSeconds: 1 });
  await sleep(200);
  queues.close();
}

/** Commands: a responder's subscription and response, on one connection. */
export async function grpcCommandResponder(address: string, sender: () => Promise<void>): Promise<void> {
  const responder = new CommandsClient(options(address, 'fz-responder', basicAuth()));
  const subscription = await responder.subscribe({ channel: 'fz.cmd' }, (err, msg) => {
    if (err !== null) return;
    void responder.response({
      id: msg.id,
      replyChannel: msg.replyChannel,
      clientId: 'fz-responder',
      timestamp: Date.now(),
      executed: true,
      error: '',
    });
  });
  await sleep(300);
  await sender();
  subscription.unsubscribe();
  await sleep(1200);
  responder.close();
}

/** Commands: one answered, one that times out (Error 301). */
export async function grpcCommandSender(address: string): Promise<void> {
  const sender = new CommandsClient(options(address, 'fz-sender', `Bearer ${fuzzToken()}`));
  await sender.send({ channel: 'fz.cmd', body: utf8('do'), timeout: 5000 });
  await sender.send({ channel: 'fz.nobody', body: utf8('lost'), timeout: 200 }).catch(() => {});
  sender.close();
}

/** What kubemq-js never calls: Ping, QueuesInfo, QueuesUpstream, QueuesDownstream (a bare token). */
export async function grpcRaw(address: string): Promise<void> {
  const { Metadata } = await import('@grpc/grpc-js');
  const client = rawClient(address);
  const metadata = new Metadata();
  metadata.set('authorization', fuzzToken());
  try {
    await call(client, 'Ping', {});
    const upstream = client.QueuesUpstream(metadata);
    const results = collectStream(upstream);
    upstream.write({
      RequestID: 'u1',
      Messages: [1, 2].map((n) => ({
        MessageID: `m${n}`,
        ClientID: 'fz-raw',
        Channel: 'fz.raw',
        Body: utf8(`raw ${n}`),
      })),
    });
    await results.next(1);
    upstream.end();
    const downstream = client.QueuesDownstream(metadata);
    const down = collectStream(downstream);
    downstream.write({
      RequestID: 'd1',
      ClientID: 'fz-raw',
      RequestTypeData: 1,
      Channel: 'fz.raw',
      MaxItems: 2,
      WaitTimeout: 1000,
      AutoAck: false,
    });
    const [first] = await down.next(1);
    downstream.write({
      RequestID: 'd2',
      ClientID: 'fz-raw',
      RequestTypeData: 2,
      RefTransactionId: (first as { TransactionId?: string } | undefined)?.TransactionId ?? '',
    });
    await sleep(200);
    downstream.end();
    await call(client, 'QueuesInfo', { RequestID: 'i1', QueueName: 'fz.raw' });
    await sleep(200);
  } finally {
    client.close();
  }
}

// ---- REST ------------------------------------------------------------------------------------

async function post(base: string, path: string, body: unknown, authorization?: string): Promise<void> {
  const response = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(authorization === undefined ? {} : { authorization }),
    },
    body: JSON.stringify(body),
  });
  await response.arrayBuffer();
}

/** Every unary path, some with `Basic guest:guest`, some with a bearer token, some with nothing. */
export async function restRequests(base: string): Promise<void> {
  await (await fetch(`${base}/ping`)).arrayBuffer();
  const basic = basicAuth();
  const bearer = `Bearer ${fuzzToken()}`;
  await post(
    base,
    '/send/event',
    {
      EventID: 'e1',
      ClientID: 'fz-rest',
      Channel: 'fz.rest',
      Body: b64('hi'),
      Metadata: 'm',
      Tags: { k: 'v' },
    },
    basic,
  );
  await post(
    base,
    '/send/event',
    { ClientID: 'fz-rest', Channel: 'fz.rest.store', Body: b64('kept'), Store: true },
    bearer,
  );
  await post(base, '/queue/send', {
    ClientID: 'fz-rest',
    Channel: 'fz.rq',
    Body: b64('one'),
    Policy: { ExpirationSeconds: 600 },
  });
  await post(
    base,
    '/queue/send_batch',
    {
      BatchID: 'b1',
      Messages: [2, 3].map((n) => ({ ClientID: 'fz-rest', Channel: 'fz.rq', Body: b64(`m${n}`) })),
    },
    bearer,
  );
  await (await fetch(`${base}/queue/info?QueueName=fz.rq&RequestID=i1`)).arrayBuffer();
  await post(
    base,
    '/queue/receive',
    { ClientID: 'fz-rest', Channel: 'fz.rq', MaxNumberOfMessages: 2, WaitTimeSeconds: 1 },
    basic,
  );
  await post(base, '/queue/ack_all', { ClientID: 'fz-rest', Channel: 'fz.rq', WaitTimeSeconds: 1 });
  await post(
    base,
    '/send/request',
    {
      RequestTypeData: 2,
      ClientID: 'fz-rest',
      Channel: 'fz.nobody',
      Body: b64('q'),
      Timeout: 100,
      CacheKey: 'ck',
      CacheTTL: 1000,
    },
    bearer,
  );
  await post(base, '/send/response', {
    ClientID: 'fz-rest',
    RequestID: 'r0',
    ReplyChannel: 'nowhere',
    Executed: true,
  });
}

/** An open WebSocket and the text frames it received (collected from the first, which may come with the upgrade). */
async function socket(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ ws: WebSocket; frames: string[] }> {
  const ws = new WebSocket(url, { headers });
  const frames: string[] = [];
  ws.on('message', (data) => frames.push(data.toString()));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return { ws, frames };
}

async function frameCount(frames: readonly string[], count: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (frames.length < count) {
    if (Date.now() > deadline) throw new Error(`no ${count} frames within 10 s`);
    await sleep(20);
  }
}

/** WebSocket subscriptions: events (fed by POST /send/event) and the events store from the first. */
export async function restSubscribe(ws: string, base: string): Promise<void> {
  const events = await socket(`${ws}/subscribe/events?client_id=fz-ws&channel=fz.ws&subscribe_type=events`, {
    authorization: basicAuth(),
  });
  await sleep(100);
  await post(base, '/send/event', { ClientID: 'fz-ws-pub', Channel: 'fz.ws', Body: b64('to ws') });
  await frameCount(events.frames, 1);
  events.ws.close();
  const store = await socket(
    `${ws}/subscribe/events?client_id=fz-ws-store&channel=fz.rest.store&subscribe_type=events_store&events_store_type_data=2`,
  );
  await frameCount(store.frames, 1);
  store.ws.close();
  await sleep(100);
}

/** WebSocket streams: `/send/stream` events, `/queue/stream` a receive and its ack. */
export async function restStreams(ws: string, base: string): Promise<void> {
  const send = await socket(`${ws}/send/stream`, { authorization: `Bearer ${fuzzToken()}` });
  send.ws.send(JSON.stringify({ EventID: 'a', ClientID: 'fz-ws', Channel: 'fz.stream', Body: b64('x') }));
  send.ws.send(
    JSON.stringify({ EventID: 'b', ClientID: 'fz-ws', Channel: 'fz.stream', Body: b64('y'), Store: true }),
  );
  await frameCount(send.frames, 1);
  send.ws.close();
  await post(base, '/queue/send', { ClientID: 'fz-ws', Channel: 'fz.wsq', Body: b64('tx') });
  const queue = await socket(`${ws}/queue/stream`);
  const closed = new Promise((resolve) => queue.ws.once('close', resolve));
  queue.ws.send(
    JSON.stringify({
      ClientID: 'fz-ws',
      StreamRequestTypeData: 1,
      Channel: 'fz.wsq',
      VisibilitySeconds: 10,
      WaitTimeSeconds: 2,
    }),
  );
  await frameCount(queue.frames, 1);
  const first = JSON.parse(queue.frames[0]!) as { Message: { Attributes: { Sequence: unknown } } };
  queue.ws.send(
    JSON.stringify({
      ClientID: 'fz-ws',
      StreamRequestTypeData: 2,
      RefSequence: first.Message.Attributes.Sequence,
    }),
  );
  await closed;
}
