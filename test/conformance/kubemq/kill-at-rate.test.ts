/**
 * kubemq-js queue senders and events-store senders at full rate, `switchyard start` SIGKILLed
 * mid-rate: after the restart every queue message whose send result came is in its queue exactly once,
 * and every events-store event that was answered `sent` is in the store once, in order.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventStoreType, EventsStoreClient, QueuesClient } from 'kubemq-js';
import {
  duplicates,
  killMidRate,
  missing,
  newSent,
  type Sent,
  sendAtRate,
  startKillBroker,
  Window,
  withKillBroker,
} from '../../../testing/kill-at-rate.js';
import { Subscriptions, textOf, until, utf8 } from '../../../testing/kubemq-harness.js';
import { freePort } from '../../../testing/server-cli.js';

const sendsMax = 20_000;
const windowMax = 100;
/** Under load a gRPC round trip of the window takes ~1 s here (2 cores, load 15-20), so fewer are awaited. */
const confirmedMin = 300;
const pullBatch = 500;
const pullsMax = 100;

/** Sends `prefix-i` at full rate (`sendAtRate`); `send` resolves true when confirmed. */
function sendAllAtRate(prefix: string, send: (id: string) => Promise<boolean>, window: Window, out: Sent) {
  return sendAtRate(
    prefix,
    sendsMax,
    window,
    out,
    (id, settle) => void send(id).then(settle, () => settle(false)),
  );
}

async function pullAll(queues: QueuesClient, channel: string): Promise<string[]> {
  const got: string[] = [];
  for (let i = 0; i < pullsMax; i++) {
    const pulled = await queues.pull({ channel, maxNumberOfMessages: pullBatch, waitTimeoutSeconds: 1 });
    if (pulled.messages.length === 0) break;
    got.push(...pulled.messages.map((m) => textOf(m.body!)));
  }
  return got;
}

async function readStore(options: object, expected: ReadonlySet<string>): Promise<string[]> {
  const subscriptions = new Subscriptions();
  const store = new EventsStoreClient({ ...options, clientId: 'kill-rate-reader' } as never);
  const got: string[] = [];
  subscriptions.track(
    await store.subscribe(
      { channel: 'kill.rate.s', requestType: EventStoreType.StartFromFirst },
      (err, msg) => {
        if (err === null && msg) got.push(textOf(msg.body));
      },
    ),
  );
  try {
    await until(() => missing(expected, new Set(got)).length === 0, 15_000, 'every answered event');
    let count = -1;
    while (count !== got.length) {
      count = got.length;
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
  } finally {
    subscriptions.endAll();
    store.close();
  }
  return got;
}

function assertOnce(what: string, got: string[], sent: Sent): void {
  assert.deepEqual(duplicates(got), [], `no ${what} twice`);
  assert.deepEqual(
    missing(sent.confirmed, new Set(got)).slice(0, 10),
    [],
    `every confirmed ${what} is there`,
  );
  const all = new Set(sent.sent);
  assert.deepEqual(
    got.filter((id) => !all.has(id)),
    [],
    `nothing but what was sent (${what})`,
  );
}

test('KubeMQ queue sends and events-store events survive SIGKILL at full rate', {
  timeout: 150_000,
}, async (t) => {
  const grpc = await freePort();
  const options = { address: `127.0.0.1:${grpc}`, clientId: 'kill-rate', reconnectInterval: 0 };
  await withKillBroker(
    () => startKillBroker({ grpc }, 'kubemq-rate'),
    async (first, track) => {
      const queues = new QueuesClient(options);
      const store = new EventsStoreClient(options);
      const window = new Window(windowMax);
      const q = newSent();
      const s = newSent();
      const loops = [
        sendAllAtRate(
          'q',
          async (id) => !(await queues.send({ channel: 'kill.rate.q', body: utf8(id) })).isError,
          window,
          q,
        ),
        sendAllAtRate(
          's',
          async (id) => (await store.send({ channel: 'kill.rate.s', body: utf8(id) })).sent,
          window,
          s,
        ),
      ];
      await killMidRate(first, () => q.confirmed.size + s.confirmed.size, confirmedMin);
      window.stop();
      await Promise.all(loops);
      queues.close();
      store.close();

      track(await first.restart());
      const after = new QueuesClient(options);
      try {
        assertOnce('queue message', await pullAll(after, 'kill.rate.q'), q);
        const events = await readStore(options, s.confirmed);
        assertOnce('event', events, s);
        const order = events.map((id) => Number(id.slice(2)));
        assert.ok(
          order.every((n, i) => i === 0 || n > order[i - 1]!),
          'events keep their send order',
        );
      } finally {
        after.close();
      }
      t.diagnostic(
        `confirmed/sent queue ${q.confirmed.size}/${q.sent.length}, store ${s.confirmed.size}/${s.sent.length}`,
      );
    },
  );
});
