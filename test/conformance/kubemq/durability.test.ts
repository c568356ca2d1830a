/**
 * What KubeMQ clients were told was sent survives a SIGKILL of `switchyard start`: confirmed queue
 * messages (an unacked one included, back with its receive count) and events-store events, and they
 * count in the admin API and /metrics.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { EventStoreType, EventsStoreClient, QueuesClient } from 'kubemq-js';
import {
  collectStream,
  rawClient,
  Subscriptions,
  textOf,
  until,
  utf8,
} from '../../../testing/kubemq-harness.js';
import { freePort, listenerFlags, startCli } from '../../../testing/server-cli.js';
import { adminFetch } from '../../../testing/server-helpers.js';

const subscriptions = new Subscriptions();

test('confirmed queue messages and events-store events survive SIGKILL and count in the admin API', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-kubemq-kill-'));
  const [grpc, http] = [await freePort(), await freePort()];
  const args = ['--data-dir', dataDir, ...listenerFlags({ grpc, http }), '--log-level', 'warn'];
  const address = `127.0.0.1:${grpc}`;
  const options = { address, clientId: 'kill-test', reconnectInterval: 0 };
  const first = await startCli(args);
  try {
    const queues = new QueuesClient(options);
    const results = await queues.batch(
      Array.from({ length: 20 }, (_, i) => ({ channel: 'kill.q', body: utf8(`q${i}`) })),
    );
    assert.ok(results.every((r) => !r.isError));
    const store = new EventsStoreClient(options);
    for (let i = 0; i < 10; i++)
      assert.equal((await store.send({ channel: 'kill.s', body: utf8(`s${i}`) })).sent, true);
    // One message held, unacked, by a transaction when the broker dies.
    const raw = rawClient(address);
    const stream = raw.StreamQueueMessage();
    stream.on('error', () => {});
    const held = collectStream(stream);
    stream.write({
      ClientID: 'holder',
      StreamRequestTypeData: 1,
      Channel: 'kill.q',
      VisibilitySeconds: 60,
      WaitTimeSeconds: 2,
    });
    await held.next(1);
    queues.close();
    store.close();
  } finally {
    first.kill();
  }
  await new Promise((resolve) => setTimeout(resolve, 200));
  const second = await startCli(args);
  try {
    const queues = new QueuesClient(options);
    const pulled = await queues.pull({ channel: 'kill.q', maxNumberOfMessages: 100, waitTimeoutSeconds: 1 });
    const bodies = pulled.messages.map((m) => textOf(m.body!));
    assert.deepEqual([...bodies].sort(), Array.from({ length: 20 }, (_, i) => `q${i}`).sort());
    const store = new EventsStoreClient({ ...options, clientId: 'kill-reader' });
    const seen: number[] = [];
    subscriptions.track(
      await store.subscribe({ channel: 'kill.s', requestType: EventStoreType.StartFromFirst }, (err, msg) => {
        if (err === null && msg) seen.push(msg.sequence);
      }),
    );
    await until(() => seen.length === 10);
    assert.deepEqual(
      seen,
      Array.from({ length: 10 }, (_, i) => i + 1),
    );
    await queues.send({ channel: 'kill.q', body: utf8('counted') });
    const admin = `http://127.0.0.1:${http}`;
    const listed = (await (await adminFetch(`${admin}/api/queues`)).json()) as Array<{
      name: string;
      messages: number;
    }>;
    assert.equal(listed.find((q) => q.name === 'kill.q')?.messages, 1);
    const streams = (await (await adminFetch(`${admin}/api/streams`)).json()) as Array<{ name: string }>;
    assert.ok(streams.some((s) => s.name === 'kill.s'));
    const metrics = await (await fetch(`${admin}/metrics`)).text();
    assert.match(metrics, /switchyard_queue_messages\{[^}]*queue="kill\.q"[^}]*\} 1/);
    subscriptions.endAll();
    queues.close();
    store.close();
  } finally {
    await second.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
