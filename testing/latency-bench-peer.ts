/**
 * The clients of `LATENCY_CLIENTS=split npm run bench -- latency`, forked once per open-loop phase so
 * that neither the bench process nor the other side shares a JavaScript thread with them. Roles:
 *
 * - `receive <amqp|mqtt> <port> <name> <count>`: the consuming client (AMQP: a consumer with automatic
 *   acknowledgement on a transient auto-delete queue `<name>`; MQTT: a QoS 1 subscriber of `bench/<name>`).
 *   Notes when each message index arrives.
 * - `send <amqp|mqtt> <port> <name> <count>`: the generator and the publishing client. On `go` it sends
 *   message i at `startMs + i / rate` (never waiting for answers), then reports when each was due.
 * - `both kafka <port> <name> <count>`: the generator and the Kafka client (the produce response comes back
 *   on the same connection), one record per Produce request, acks=all.
 *
 * Times are epoch milliseconds with sub-millisecond resolution (`performance.timeOrigin` + `now()`),
 * which the bench and its children share. Parent → child: `go` (senders), `stop`. Child → parent:
 * `ready`, then one `result`. A child exits after its result, or after `lifetimeMs` whatever happens.
 */

import { amqpSide, kafkaSide, mqttSide, type SideFactory } from '../bench/latency-clients.js';
import { pace } from '../bench/pacer.js';

export type Role = 'receive' | 'send' | 'both';

export type ParentMessage =
  | { readonly type: 'go'; readonly startMs: number; readonly rate: number }
  | { readonly type: 'stop' };

export type ChildMessage =
  | { readonly type: 'ready' }
  | {
      readonly type: 'result';
      /** Epoch ms each message was due (senders; empty for a receiver). */
      readonly due: Float64Array;
      /** Epoch ms each message arrived (receivers and `both`; NaN where it did not). */
      readonly arrived: Float64Array;
      /** CPU time (user + system) of this process from `ready` to its result. */
      readonly cpuMs: number;
    };

const lifetimeMs = 120_000;

const epochMs = () => performance.timeOrigin + performance.now();

function sideOf(role: Role, protocol: string): SideFactory {
  if (protocol === 'amqp') return amqpSide(role === 'receive', true);
  if (protocol === 'mqtt') return mqttSide(role === 'receive', true);
  if (protocol === 'kafka' && role === 'both') return kafkaSide(true);
  throw new Error(`no ${role} side for ${protocol}`);
}

function duesOf(startMs: number, rate: number, count: number): Float64Array {
  const due = new Float64Array(count);
  for (let i = 0; i < count; i++) due[i] = startMs + (i * 1000) / rate;
  return due;
}

async function main(): Promise<void> {
  const [role, protocol, port, name, countText] = process.argv.slice(2) as [
    Role,
    string,
    string,
    string,
    string,
  ];
  const count = Number(countText);
  const arrived = new Float64Array(role === 'send' ? 0 : count).fill(Number.NaN);
  let back = 0;
  let everyOne = () => {};
  const everyOneBack = new Promise<void>((resolve) => {
    everyOne = resolve;
  });
  const side = await sideOf(role, protocol)(Number(port), name, (i) => {
    if (i >= count || !Number.isNaN(arrived[i]!)) return;
    arrived[i] = epochMs();
    if (++back === count) everyOne();
  });
  let stop = () => {};
  const stopped = new Promise<void>((resolve) => {
    stop = resolve;
  });
  const go = new Promise<{ startMs: number; rate: number }>((resolve) => {
    process.on('message', (m: ParentMessage) => (m.type === 'go' ? resolve(m) : stop()));
  });
  process.send?.({ type: 'ready' } satisfies ChildMessage);
  const cpuAtReady = process.cpuUsage();
  let due: Float64Array = new Float64Array(0);
  if (role !== 'receive') {
    const { startMs, rate } = await go;
    due = duesOf(startMs, rate, count);
    await pace(due, epochMs, (i) => side.send(i));
  }
  if (role !== 'send') await Promise.race([everyOneBack, stopped]);
  const { user, system } = process.cpuUsage(cpuAtReady);
  process.send?.({ type: 'result', due, arrived, cpuMs: (user + system) / 1000 } satisfies ChildMessage);
  // A sender stays connected until the receiver is done: closing at once could drop what its client still buffers.
  if (role === 'send') await stopped;
  await side.close().catch(() => undefined);
  setTimeout(() => process.exit(0), 200).unref();
}

setTimeout(() => process.exit(1), lifetimeMs).unref();
process.on('disconnect', () => process.exit(0));
main().catch((err: unknown) => {
  process.stderr.write(`latency-bench-peer: ${String(err)}\n`);
  process.exit(1);
});
