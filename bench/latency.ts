/**
 * `npm run bench -- latency [amqp] [mqtt] [kafka]` (all three when none is named): open-loop latency
 * against a child `switchyard start --storage memory`.
 *
 * For each protocol the maximum rate is measured first: closed loop (`windowMax` messages in flight
 * for `maxDurationMs`), then by default a step search from a tenth of that (`stepSearch`). Then
 * messages are sent at a fixed rate of 10 %, 50 % and 90 % of the maximum for `openDurationMs` each:
 * message i is due at start + i / rate whatever happened to the ones before, and its latency is
 * measured from that due time, not from when it was actually sent, so a stalled broker shows in the
 * figures instead of slowing the generator down (coordinated omission). Since 6 December 2026 16:00 UTC
 * a pacing thread wakes the sending thread at each due time to the microsecond (bench/pacer.ts);
 * before, the generator slept on Node's 1 ms timer and sent up to ~1 ms after the due time, which every
 * figure then counted as latency (`LATENCY_PACER=timer` gives that method back;
 * `LATENCY_PACER_SPACING_MS` the pacing thread's shortest sleep, 0.1 ms). Each protocol has a broker of
 * its own, and each phase starts after `settleMs` and a collection in the bench process, so that no
 * phase pays for the garbage, sockets or backlog of the one before (`LATENCY_BROKER=shared` and
 * `LATENCY_SETTLE=0` give the method of the figures before 5 December 2026 17:00 UTC).
 *
 * - AMQP: amqplib, `sendToQueue` to a transient queue, a consumer with automatic acknowledgement;
 *   due time → delivery at the consumer.
 * - MQTT: mqtt.js 3.1.1, QoS 1 publish, a QoS 1 subscriber on another connection; due time → delivery.
 * - Kafka: the wire client of bench/kafka.ts, one record per Produce request (v7), acks=all; due time →
 *   the produce response.
 *
 * 256 B payloads carrying the message's index (bench/latency-clients.ts); the clients run in this
 * process, or with `LATENCY_CLIENTS=split` in forked processes of their own (`openLoopSplit`). Every phase is
 * bounded in count (`openMessagesMax`) and time; messages not back within `drainTimeoutMs` after the
 * last was due count as lost and are reported.
 *
 * The maximum is the highest fixed rate the broker sustains with p50 flat (a step search,
 * `stepSearch`): what an open loop of one message per request can be asked for. `LATENCY_MAX=closed`
 * takes the closed-loop figure instead, which with `windowMax` requests in flight shares one read, one
 * turn and one write among many messages and so overstates what a protocol answering one message at
 * a time sustains (Kafka's one-record produce most of all). `LATENCY_BROKER_CLI=<dist/cli/switchyard.js>`
 * runs another build's broker under this bench (an A/B of broker changes with one method).
 * `LATENCY_SHARES=0.5` (comma-separated) runs only those shares of the maximum; `LATENCY_RATE=5000`
 * takes that rate as the maximum instead of measuring one (the same load for runs to be compared: the
 * broker CPU per message the table gives then compares across builds).
 * `LATENCY_PROFILE=<dir>` (implies the probe) writes a CPU profile of the broker's main thread for each
 * open-loop phase to `<dir>/<n>.cpuprofile`; `node dist/bench/profile-turns.js <file>` attributes its
 * long turns. With the probe, `LATENCY_TRACE_GC=1` has V8 print a line per collection on the broker's
 * stdout, which `LATENCY_BROKER_STDOUT=<file>` keeps; `LATENCY_NODE_OPTIONS` adds Node options of the
 * broker's own. `LATENCY_TAIL=1` (implies the probe) has the probe write the broker's gaps and GC pauses
 * with their times, and says for the slowest 1 % of each phase's messages what they waited through
 * (`tailCauses`): whether a long turn, a collection or the scheduler made the tail; it also forks an
 * idle process (bench/idle-watch.ts) whose own gaps are the machine's, and gives per phase the share of
 * the tail's waiting they overlap, with the CPUs' busy and steal time from /proc/stat.
 * The step search's rate is confirmed by two phase-long runs with a flat p50 at their end too
 * (`confirmed`); `LATENCY_STEP=quick` keeps the search's last passed 2 s step (the method before).
 * `LATENCY_SCHED=1` (implies the tail) adds each process's threads' run and run-queue wait per phase
 * and while the tail waited (bench/sched-stat.ts); `LATENCY_CPUS=split` pins the bench and the broker
 * to a core each; `LATENCY_NODE_ARGS` sets node options of the broker's that NODE_OPTIONS refuses.
 */

import { type ChildProcess, execFileSync, fork } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import amqp from 'amqplib';
import mqtt from 'mqtt';
import type { ChildMessage, ParentMessage, Role } from '../testing/latency-bench-peer.js';
import { startCli } from '../testing/server-cli.js';
import { type GapKind, gcSummary, watchGaps } from './gap-watch.js';
import { kafkaSide, payloadBytes, payloadOf } from './latency-clients.js';
import { pace, pacerKind } from './pacer.js';
import { mergeWindows, readSched, schedSummary, tailSched, threadTimesOf } from './sched-stat.js';
import { confirmTailShare, held, P50Floor, p50BoundMs, stepP50RiseMs } from './step-acceptance.js';

/** Messages in flight in the closed loop; `LATENCY_WINDOW=1` measures one at a time (CPU per message without batching). */
const windowMax = Number(process.env['LATENCY_WINDOW'] ?? 1000);
const maxDurationMs = 3_000;
const openDurationMs = 5_000;
const openMessagesMax = 500_000;
const drainTimeoutMs = 10_000;
const loadShares: readonly number[] = (process.env['LATENCY_SHARES'] ?? '0.1,0.5,0.9')
  .split(',')
  .map(Number)
  .filter((share) => share > 0 && share <= 1);
/** Step search: each step runs `stepDurationMs` at `stepFactor` × the rate before it, at most `stepsMax` steps. */
const stepDurationMs = 2_000;
const stepFactor = 1.25;
const stepsMax = 20;
const setupTimeoutMs = 30_000;
/**
 * The clients' sockets disable Nagle's algorithm, as the broker's do (src/protocols/transport.ts) and
 * as librdkafka does by default (`socket.nagle.disable`): amqplib keeps Nagle unless asked
 * (`noDelay`) and mqtt.js never disables it, so a small write issued while an earlier one is still
 * unacknowledged waits for the broker's delayed ACK (40 ms on Linux) — a client-side stall that is
 * not the broker's. `LATENCY_NAGLE=1` keeps the libraries' defaults, to measure that difference.
 */
const noDelay = process.env['LATENCY_NAGLE'] !== '1';

/** One protocol's send and receive path: `send(i)` sends message i, `received(i)` is called when it is back. */
interface Pipe {
  send(index: number): void;
  close(): Promise<void>;
}
type PipeFactory = (port: number, received: (index: number) => void) => Promise<Pipe>;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function withTimeout<T>(work: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer in ${setupTimeoutMs} ms`)), setupTimeoutMs);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const amqpPipe: PipeFactory = async (port, received) => {
  const connection = await amqp.connect(`amqp://guest:guest@127.0.0.1:${port}`, { noDelay });
  const channel = await connection.createChannel();
  const { queue } = await channel.assertQueue('', { exclusive: true, durable: false });
  await channel.consume(queue, (msg) => msg && received(msg.content.readUInt32BE(0)), { noAck: true });
  return {
    send: (i) => channel.sendToQueue(queue, payloadOf(i)),
    close: () => connection.close(),
  };
};

const mqttPipe: PipeFactory = async (port, received) => {
  const url = `mqtt://127.0.0.1:${port}`;
  const options = { protocolVersion: 4 as const, reconnectPeriod: 0, connectTimeout: setupTimeoutMs };
  const subscriber = await mqtt.connectAsync(url, { ...options, clientId: `latency-sub-${process.pid}` });
  (subscriber.stream as Socket).setNoDelay(noDelay);
  await subscriber.subscribeAsync('bench/latency', { qos: 1 });
  subscriber.on('message', (_topic, payload) => received(payload.readUInt32BE(0)));
  const publisher = await mqtt.connectAsync(url, { ...options, clientId: `latency-pub-${process.pid}` });
  (publisher.stream as Socket).setNoDelay(noDelay);
  return {
    send: (i) => publisher.publish('bench/latency', payloadOf(i), { qos: 1 }),
    close: async () => {
      await publisher.endAsync();
      await subscriber.endAsync();
    },
  };
};

/** The wire client of bench/kafka.ts: kafkajs, one record per request, was the limit at ~300/s. */
const kafkaPipe: PipeFactory = (port, received) => kafkaSide(noDelay)(port, 'bench-latency', received);

/** Closed loop, `windowMax` in flight, for `maxDurationMs`: messages back per second, and how many. */
async function maxRate(factory: PipeFactory, port: number): Promise<{ rate: number; count: number }> {
  let sent = 0;
  let back = 0;
  let pipe: Pipe | undefined;
  let done = false;
  const topUp = () => {
    while (!done && pipe !== undefined && sent - back < windowMax) pipe.send(sent++);
  };
  pipe = await withTimeout(
    factory(port, () => {
      back++;
      topUp();
    }),
    'connect',
  );
  const started = performance.now();
  topUp();
  await sleep(maxDurationMs);
  done = true;
  const rate = back / ((performance.now() - started) / 1000);
  await sleep(1000); // what is in flight comes back before the pipe closes
  await pipe.close();
  return { rate, count: back };
}

interface OpenResult {
  /** When each message was due and how long it took (NaN: lost), performance.now() of this process. */
  readonly due: Float64Array;
  readonly latency: Float64Array;
  readonly rate: number;
  readonly count: number;
  readonly lost: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  /** CPU time the clients and the generator used for the phase (the bench process's, or the peers'). */
  readonly clientsCpuMs: number;
  /** How late the generator sent its messages after their due time, p50 and p99 (ms; in the bench process only). */
  readonly sentLateMs?: readonly [number, number];
  /** p50 and p99 of the latency from when each message was sent instead of due: the path without the generator's lateness. */
  readonly fromSentMs?: readonly [number, number];
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted.length === 0
    ? Number.NaN
    : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

/** Fixed-rate sending for `openDurationMs`; latency of each message from its due time. */
async function openLoop(
  factory: PipeFactory,
  port: number,
  rate: number,
  durationMs = openDurationMs,
): Promise<OpenResult> {
  const count = Math.min(openMessagesMax, Math.max(1, Math.round((rate * durationMs) / 1000)));
  const due = new Float64Array(count);
  const latency = new Float64Array(count).fill(Number.NaN);
  const sentLate = new Float64Array(count);
  let back = 0;
  const pipe = await withTimeout(
    factory(port, (i) => {
      if (i < count && Number.isNaN(latency[i]!)) {
        latency[i] = performance.now() - due[i]!;
        back++;
      }
    }),
    'connect',
  );
  const cpuBefore = process.cpuUsage();
  const started = performance.now() + 10;
  for (let i = 0; i < count; i++) due[i] = started + (i * 1000) / rate;
  // Everything due goes out, late ones included: the generator never waits for answers.
  await pace(
    due,
    () => performance.now(),
    (i) => {
      sentLate[i] = performance.now() - due[i]!;
      pipe.send(i);
    },
  );
  const drainDeadline = performance.now() + drainTimeoutMs;
  while (back < count && performance.now() < drainDeadline) await sleep(20);
  const { user, system } = process.cpuUsage(cpuBefore);
  await pipe.close();
  const fromSent = latency
    .map((v, i) => v - sentLate[i]!)
    .filter((v) => !Number.isNaN(v))
    .sort();
  const late = sentLate.sort();
  const sentLateMs = [percentile(late, 0.5), percentile(late, 0.99)] as const;
  const fromSentMs = [percentile(fromSent, 0.5), percentile(fromSent, 0.99)] as const;
  return { ...resultOf(due, latency, rate, (user + system) / 1000), sentLateMs, fromSentMs };
}

/** Percentiles of the messages that came back; NaN latencies are the lost. */
function resultOf(due: Float64Array, latency: Float64Array, rate: number, clientsCpuMs: number): OpenResult {
  const sorted = latency.filter((v) => !Number.isNaN(v)).sort();
  return {
    due,
    latency,
    rate,
    count: latency.length,
    lost: latency.length - sorted.length,
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    p999Ms: percentile(sorted, 0.999),
    clientsCpuMs,
  };
}

/** One open-loop phase, its clients where `LATENCY_CLIENTS` puts them. */
function phase(name: string, port: number, rate: number, durationMs = openDurationMs): Promise<OpenResult> {
  return splitClients
    ? openLoopSplit(name, port, rate, durationMs)
    : openLoop(protocols[name]!.factory, port, rate, durationMs);
}

/**
 * `LATENCY_CLIENTS=split`: the clients of each open-loop phase run in forked processes of their own
 * (testing/latency-bench-peer.ts): AMQP and MQTT with the generator and publisher in one and the
 * consumer in another, Kafka with the generator and its client in one (its answer comes back on the
 * same connection). The default, `LATENCY_CLIENTS=bench`, keeps them all in the bench process.
 */
const splitClients = process.env['LATENCY_CLIENTS'] === 'split';
const peerScript = fileURLToPath(new URL('../testing/latency-bench-peer.js', import.meta.url));
/** Client processes alive; killed if the bench exits while they run. */
const peers = new Set<ChildProcess>();
process.once('exit', () => {
  for (const peer of peers) peer.kill('SIGKILL');
});
let phaseNumber = 0;

interface Peer {
  readonly proc: ChildProcess;
  readonly ready: Promise<void>;
  readonly result: Promise<Extract<ChildMessage, { type: 'result' }>>;
}

function forkPeer(role: Role, name: string, port: number, queue: string, count: number): Peer {
  const proc = fork(peerScript, [role, name, String(port), queue, String(count)], {
    serialization: 'advanced',
  });
  peers.add(proc);
  proc.once('exit', () => peers.delete(proc));
  const ready = new Promise<void>((resolve, reject) => {
    proc.on('message', (m: ChildMessage) => m.type === 'ready' && resolve());
    proc.once('exit', (code) =>
      reject(new Error(`latency peer ${role} exited (${code}) before it was ready`)),
    );
  });
  const result = new Promise<Extract<ChildMessage, { type: 'result' }>>((resolve, reject) => {
    proc.on('message', (m: ChildMessage) => m.type === 'result' && resolve(m));
    proc.once('exit', (code) => reject(new Error(`latency peer ${role} exited (${code}) without a result`)));
  });
  // Handled where awaited; a peer that fails before then must not end the bench unhandled.
  ready.catch(() => undefined);
  result.catch(() => undefined);
  return { proc, ready, result };
}

const tell = (peer: Peer, m: ParentMessage) => peer.proc.connected && peer.proc.send(m);

/** `openLoop` with the clients in their own processes; times in the children are epoch ms. */
async function openLoopSplit(
  name: string,
  port: number,
  rate: number,
  durationMs: number,
): Promise<OpenResult> {
  const count = Math.min(openMessagesMax, Math.max(1, Math.round((rate * durationMs) / 1000)));
  const queue = `latency-${process.pid}-${++phaseNumber}`;
  const receiver = name === 'kafka' ? undefined : forkPeer('receive', name, port, queue, count);
  await withTimeout(receiver?.ready ?? Promise.resolve(), 'receiver');
  const sender = forkPeer(receiver === undefined ? 'both' : 'send', name, port, queue, count);
  await withTimeout(sender.ready, 'sender');
  tell(sender, { type: 'go', startMs: performance.timeOrigin + performance.now() + 10, rate });
  const stopAfter = setTimeout(() => {
    tell(sender, { type: 'stop' });
    if (receiver !== undefined) tell(receiver, { type: 'stop' });
  }, durationMs + drainTimeoutMs);
  const sent = await sender.result;
  const got = receiver === undefined ? sent : await receiver.result;
  clearTimeout(stopAfter);
  tell(sender, { type: 'stop' });
  const due = new Float64Array(count);
  const latency = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    due[i] = sent.due[i]! - performance.timeOrigin;
    latency[i] = got.arrived[i]! - sent.due[i]!;
  }
  return resultOf(due, latency, rate, sent.cpuMs + (receiver === undefined ? 0 : got.cpuMs));
}

const protocols: Record<string, { factory: PipeFactory; what: string }> = {
  amqp: { factory: amqpPipe, what: 'AMQP transient queue, amqplib, consumer auto-ack' },
  mqtt: { factory: mqttPipe, what: 'MQTT QoS 1 → QoS 1 subscriber, mqtt.js 3.1.1' },
  kafka: { factory: kafkaPipe, what: 'Kafka produce, 1 record per request, acks=all' },
};

/**
 * The highest fixed rate at which p50 stays flat (bench/step-acceptance.ts) and nothing is lost: steps of
 * `stepDurationMs` from `startRate`, each `stepFactor` × the one before; `startRate` when even the
 * first step fails. A failed step is run once more at its rate before it ends the search: at a low
 * rate a 2 s step holds a few hundred messages, and one stall of the machine moved their p50 by 10–15
 * ms (2026-12-05, load 13), while a rate the broker cannot sustain fails again.
 */
async function stepSearch(
  name: string,
  port: number,
  startRate: number,
): Promise<{ found: number; confirmed: number }> {
  let rate = Math.max(100, startRate);
  let sustained = 0;
  const floor = new P50Floor(quickSteps);
  let failedOnce = false;
  for (let step = 0; step < stepsMax; step++) {
    const r = await phase(name, port, Math.round(rate), stepDurationMs);
    floor.see(r.p50Ms);
    const failed = r.lost > 0 || !(r.p50Ms <= p50BoundMs(floor.ms ?? r.p50Ms));
    process.stderr.write(
      `step ${Math.round(rate)}/s: p50 ${r.p50Ms.toFixed(2)} ms, lost ${r.lost}${failed ? ' (failed)' : ''}\n`,
    );
    if (failed && failedOnce) break;
    failedOnce = failed;
    if (failed) continue;
    sustained = rate;
    rate *= stepFactor;
  }
  const found = Math.max(sustained, startRate);
  if (quickSteps || floor.ms === undefined) return { found, confirmed: found };
  return { found, confirmed: await confirmed(name, port, found, startRate, floor.ms) };
}

/**
 * `LATENCY_STEP=quick`: the search's last passed step is the maximum (the method of 5 December 2026,
 * 17:00–19:30 UTC). In the quiet run of 18:56 it passed MQTT at 29,627/s on a second 2 s try, and the
 * 5 s phase at 90 % of that fell behind (p50 320 ms): a 2 s step is too short for a slowly growing
 * backlog to show in its p50, and a retried step passes on the better of two tries. Its floor is the
 * first step's p50, where the default's is the lowest any step showed (`P50Floor`).
 */
const quickSteps = process.env['LATENCY_STEP'] === 'quick';
/** Each confirmation runs as long as a phase, and a rate is kept only when this many in a row pass. */
const confirmRuns = 2;

/**
 * The search's rate, confirmed: it is held for a whole phase's length `confirmRuns` times running, and
 * each time nothing is lost, p50 stays within the search's bound, and so does the p50 of the messages
 * due in the last `confirmTailShare` of it (a backlog that grows through the run is largest at its
 * end, however flat the whole run's p50). A rate that fails is lowered by `stepFactor` and confirmed
 * again, down to `startRate`.
 */
async function confirmed(
  name: string,
  port: number,
  found: number,
  startRate: number,
  floorP50Ms: number,
): Promise<number> {
  for (let rate = found; rate > startRate; rate /= stepFactor) {
    let passes = 0;
    while (passes < confirmRuns) {
      const r = await phase(name, port, Math.round(rate), openDurationMs);
      const { passed, endP50Ms, boundMs } = held(r, floorP50Ms);
      process.stderr.write(
        `confirm ${Math.round(rate)}/s for ${openDurationMs / 1000} s: p50 ${r.p50Ms.toFixed(2)} ms, last ${confirmTailShare * 100} % ${endP50Ms.toFixed(2)} ms (at most ${boundMs.toFixed(2)}), lost ${r.lost}${passed ? '' : ' (failed)'}\n`,
      );
      if (!passed) break;
      passes++;
    }
    if (passes === confirmRuns) return rate;
  }
  return startRate;
}

/** `LATENCY_SCHED=1` (implies `LATENCY_TAIL`): run-queue waits per thread, per phase and in the tail (bench/sched-stat.ts). */
const schedOn = process.env['LATENCY_SCHED'] === '1';
const tailOn = process.env['LATENCY_TAIL'] === '1' || schedOn;
/**
 * `LATENCY_CPUS=split`: the bench process (the generator and the clients) on CPU 0 and each broker on
 * CPU 1, set with `taskset` once the watchers are forked (they stay free); the default leaves the
 * scheduler to place them. A measure of what sharing the cores costs, not a way the broker is run.
 */
const cpusSplit = process.env['LATENCY_CPUS'] === 'split';
const benchCpu = '0';
const brokerCpu = '1';

/** Pins every thread of `pid` to `cpu` (taskset -a: the threads it has now, and those it starts later). */
function pin(pid: number, cpu: string): void {
  execFileSync('taskset', ['-a', '-p', '-c', cpu, String(pid)], { stdio: 'ignore' });
}

/** `LATENCY_PROBE=1`: the broker runs bench/latency-probe.ts (busy and stalled pauses, GC), shown on stderr with the phases. */
const profileDir = process.env['LATENCY_PROFILE'];
/** `LATENCY_NODE_OPTIONS` adds Node options of the broker's own (`--trace-gc`, a heap setting to compare). */
const extraNodeOptions = process.env['LATENCY_NODE_OPTIONS'];
/**
 * `LATENCY_NODE_ARGS`: options on the broker's node command line, for the V8 flags Node refuses in
 * NODE_OPTIONS (`--single-threaded-gc`); set at run time instead, they crash V8 20's collector.
 */
const nodeArgs = process.env['LATENCY_NODE_ARGS']?.split(' ').filter((a) => a !== '');
/**
 * `LATENCY_BROKER_SESSION=own`: each broker in a session of its own. With the kernel's autogroup
 * scheduling (`/proc/sys/kernel/sched_autogroup_enabled`, on here) every session is a group that the
 * scheduler gives an equal share of the CPUs, so by default the broker, the bench and its watchers
 * share one group's share beside every other session's; on a quiet machine there is nothing to share with.
 */
const ownSession = process.env['LATENCY_BROKER_SESSION'] === 'own';
const probeOptions =
  process.env['LATENCY_PROBE'] === '1' || profileDir !== undefined || tailOn
    ? `--import ${fileURLToPath(new URL('./latency-probe.js', import.meta.url))}`
    : undefined;
const brokerNodeOptions =
  probeOptions === undefined && extraNodeOptions === undefined
    ? undefined
    : [probeOptions, extraNodeOptions].filter((o) => o !== undefined).join(' ');
/** The step search is the default maximum (see `stepSearch`); `LATENCY_MAX=closed` takes the closed loop's. */
const stepMax = process.env['LATENCY_MAX'] !== 'closed';
/** `LATENCY_TAIL=1` (implies the probe): what the slowest 1 % of each phase's messages waited through. */
const gapsFile = tailOn ? join(tmpdir(), `switchyard-latency-gaps-${process.pid}.txt`) : undefined;
const fixedRate = Number(process.env['LATENCY_RATE'] ?? Number.NaN);

/** CPU time of a process so far, ms (user + system, all threads), from /proc (Linux; 0 elsewhere). */
function cpuMsOf(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in 1/100 s
  } catch {
    return 0;
  }
}

/** The probe's lines summed over one phase: busy gaps and GC pauses of the broker. */
interface ProbeTally {
  seconds: number;
  busyCount: number;
  busyMs: number;
  busyMaxMs: number;
  gcCount: number;
  gcMs: number;
  gcMaxMs: number;
  majorCount: number;
  majorMs: number;
  majorMaxMs: number;
  allocatedKiB: number;
}

const probeLine =
  /busy (\d+) \(([\d.]+) ms, max ([\d.]+)\).*gc (\d+) \(([\d.]+) ms, max ([\d.]+).*major (\d+) \(([\d.]+) ms, max ([\d.]+)\).*allocated (\d+) KiB/;

/** Feeds the broker's stderr, line by line, into the tally of the phase running (if any). */
function probeReader(): { feed(chunk: string): void; begin(): void; end(): ProbeTally | undefined } {
  let partial = '';
  let tally: ProbeTally | undefined;
  return {
    feed(chunk) {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        const m = probeLine.exec(line);
        if (m === null || tally === undefined) continue;
        const [
          busyCount,
          busyMs,
          busyMaxMs,
          gcCount,
          gcMs,
          gcMaxMs,
          majorCount,
          majorMs,
          majorMaxMs,
          allocatedKiB,
        ] = m.slice(1).map(Number) as number[];
        tally.seconds++;
        tally.busyCount += busyCount!;
        tally.busyMs += busyMs!;
        tally.busyMaxMs = Math.max(tally.busyMaxMs, busyMaxMs!);
        tally.gcCount += gcCount!;
        tally.gcMs += gcMs!;
        tally.gcMaxMs = Math.max(tally.gcMaxMs, gcMaxMs!);
        tally.majorCount += majorCount!;
        tally.majorMs += majorMs!;
        tally.majorMaxMs = Math.max(tally.majorMaxMs, majorMaxMs!);
        tally.allocatedKiB += allocatedKiB!;
      }
    },
    begin() {
      tally = {
        seconds: 0,
        busyCount: 0,
        busyMs: 0,
        busyMaxMs: 0,
        gcCount: 0,
        gcMs: 0,
        gcMaxMs: 0,
        majorCount: 0,
        majorMs: 0,
        majorMaxMs: 0,
        allocatedKiB: 0,
      };
    },
    end() {
      const t = tally;
      tally = undefined;
      return t;
    },
  };
}

/** What the idle broker allocates per second (its timers, the probe's own), measured before the first phase. */
let idleKiBPerS = 0;

function probeSummary(t: ProbeTally, messages: number): string {
  const per10k = (n: number) => ((n * 10_000) / messages).toFixed(1);
  const beyondIdle = Math.max(0, t.allocatedKiB - idleKiBPerS * t.seconds);
  return `${t.seconds} s: busy gaps > 2 ms ${t.busyCount} (${t.busyMs.toFixed(0)} ms, max ${t.busyMaxMs.toFixed(1)}), GC ${t.gcCount} (${per10k(t.gcCount)} per 10k msgs, ${t.gcMs.toFixed(0)} ms, max ${t.gcMaxMs.toFixed(1)}; of them full ${t.majorCount}, ${t.majorMs.toFixed(0)} ms, max ${t.majorMaxMs.toFixed(1)}), heap allocated ${((beyondIdle * 1024) / messages).toFixed(0)} B/msg beyond the idle ${idleKiBPerS.toFixed(0)} KiB/s`;
}

interface Gap {
  readonly kind: GapKind;
  readonly fromMs: number;
  readonly toMs: number;
  /** A collection's kind (perf_hooks' `NODE_PERFORMANCE_GC_*`), for the bench process's own. */
  readonly gcKind?: number;
}

/** The broker's gaps over 2 ms and GC pauses so far (bench/latency-probe.ts), in epoch ms. */
function readGaps(file: string): Gap[] {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .map((line) => line.split(' '))
    .filter((f) => f.length === 3)
    .map(([kind, from, to]) => ({ kind: kind as GapKind, fromMs: Number(from), toMs: Number(to) }))
    .sort((a, b) => a.fromMs - b.fromMs);
}

/**
 * With `LATENCY_TAIL=1` the bench process watches its own gaps too (bench/gap-watch.ts), in epoch ms:
 * with the clients here, their turns, collections and descheduling are the other side of the tail.
 */
const benchGaps: Gap[] = [];
if (tailOn)
  watchGaps((gap) => {
    if (gap !== undefined) benchGaps.push({ ...gap, fromMs: origin(gap.fromMs), toMs: origin(gap.toMs) });
  });

function origin(ms: number): number {
  return performance.timeOrigin + ms;
}

/** Where a slow message's waiting is put, first match wins: the broker's gaps, then the bench process's. */
const causes = [
  'broker gc',
  'broker busy',
  'broker stalled',
  'bench gc',
  'bench busy',
  'bench stalled',
] as const;
/** Points per slow message at which its waiting is classified (at least every `tailStepMsMin`). */
const tailPoints = 2000;
const tailStepMsMin = 0.05;

/** The first cause whose gap holds time `t`, or -1 (the broker's gaps first, GC pauses before the rest). */
function causeAt(t: number, broker: readonly Gap[], bench: readonly Gap[]): number {
  for (const [side, gaps] of [broker, bench].entries())
    for (const [k, kind] of (['gc', 'busy', 'stalled'] as const).entries())
      if (gaps.some((g) => g.kind === kind && g.fromMs <= t && t < g.toMs)) return side * 3 + k;
  return -1;
}

/**
 * Lines the slowest 1 % of a phase's messages up with the broker's gaps and the bench process's: of
 * the time they waited (due to arrival), the share that fell in a GC pause, in a busy gap beyond it (a
 * long turn), in a gap in which the process was not run, each of the broker and then of the bench
 * process (the clients, unless `LATENCY_CLIENTS=split`), and in none over 2 ms (short turns, the
 * network, the clients' own queues).
 */
function tailCauses(r: OpenResult, gaps: readonly Gap[], idle: readonly Gap[]): string {
  const sorted = [...r.latency].filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  const p99 = sorted[Math.floor(sorted.length * 0.99)] ?? Number.POSITIVE_INFINITY;
  const waited = new Float64Array(causes.length + 1);
  let machineMs = 0;
  let total = 0;
  let messages = 0;
  for (let i = 0; i < r.count; i++) {
    const latency = r.latency[i]!;
    if (!(latency >= p99)) continue;
    messages++;
    total += latency;
    const from = origin(r.due[i]!);
    const to = from + latency;
    const overlaps = (g: Gap) => g.fromMs < to && g.toMs > from;
    const broker = gaps.filter(overlaps);
    const bench = benchGaps.filter(overlaps);
    const machine = idle.filter(overlaps);
    const step = Math.max(tailStepMsMin, latency / tailPoints);
    for (let t = from + step / 2; t < to; t += step) {
      const cause = causeAt(t, broker, bench);
      waited[cause < 0 ? causes.length : cause]! += step;
      if (machine.some((g) => g.fromMs <= t && t < g.toMs)) machineMs += step;
    }
  }
  const share = (ms: number) => `${((100 * ms) / Math.max(1e-9, total)).toFixed(0)} %`;
  const parts = causes.map((c, k) => `${c} ${share(waited[k]!)}`);
  return `${messages} messages ≥ p99 (${p99.toFixed(2)} ms) waited ${total.toFixed(0)} ms in all: ${parts.join(', ')}, in no gap > 2 ms ${share(waited[causes.length]!)}; of it, in an idle process's own gaps ${share(machineMs)}`;
}

/** Where the idle process beside the broker (bench/idle-watch.ts) writes its gaps. */
const idleGapsFile = (file: string) => `${file}.idle`;

/** The gaps that fall within a phase: from its first message's due time to its last one's arrival. */
function phaseGaps(gaps: readonly Gap[], r: OpenResult): Gap[] {
  let endMs = 0;
  for (let i = 0; i < r.count; i++) endMs = Math.max(endMs, r.due[i]! + (r.latency[i]! || 0));
  const from = origin(r.due[0] ?? 0);
  const to = origin(endMs);
  return gaps.filter((g) => g.toMs > from && g.fromMs < to);
}

/** The machine's CPU counters (/proc/stat's first line, jiffies): all, idle and steal; zeros elsewhere. */
function cpuTimesOf(): { total: number; idle: number; steal: number } {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    const f = line.split(/\s+/).slice(1).map(Number);
    const total = f.slice(0, 8).reduce((sum, v) => sum + v, 0);
    return { total, idle: (f[3] ?? 0) + (f[4] ?? 0), steal: f[7] ?? 0 };
  } catch {
    return { total: 0, idle: 0, steal: 0 };
  }
}

/**
 * What the machine did during a phase: the idle process's own gaps (count, time, longest: the VM not
 * running a process that wanted 1 ms in every ms), the steal time the hypervisor reported, and how
 * busy both cores were.
 */
function machineSummary(
  idle: readonly Gap[],
  before: ReturnType<typeof cpuTimesOf>,
  after: ReturnType<typeof cpuTimesOf>,
): string {
  const ms = idle.reduce((sum, g) => sum + g.toMs - g.fromMs, 0);
  const maxMs = Math.max(0, ...idle.map((g) => g.toMs - g.fromMs));
  const total = Math.max(1, after.total - before.total);
  const pct = (v: number) => `${((100 * v) / total).toFixed(1)} %`;
  return `an idle process's gaps > 2 ms ${idle.length} (${ms.toFixed(0)} ms, max ${maxMs.toFixed(1)}); CPUs busy ${pct(total - (after.idle - before.idle))}, steal ${pct(after.steal - before.steal)}`;
}

/** Forks a watcher script of this folder writing to `out`; resolves once it says it is ready. */
async function startWatcher(script: string, out: string, what: string): Promise<ChildProcess> {
  const proc = fork(fileURLToPath(new URL(script, import.meta.url)), [out]);
  peers.add(proc);
  proc.once('exit', () => peers.delete(proc));
  await withTimeout(new Promise<void>((resolve) => proc.once('message', () => resolve())), what);
  return proc;
}

/** With `LATENCY_TAIL`, the idle process that watches the machine's own gaps beside every phase. */
function startIdleWatch(file: string): Promise<ChildProcess> {
  return startWatcher('./idle-watch.js', idleGapsFile(file), 'idle watch');
}

/** Where bench/sched-watch.ts writes its samples, emptied before each phase. */
const schedFile = (file: string) => `${file}.sched`;

/** The processes whose threads are watched, by label: the bench, the watchers, the broker running. */
const watched = new Map<number, string>([[process.pid, 'bench']]);

async function startSchedWatch(file: string): Promise<ChildProcess> {
  const proc = await startWatcher('./sched-watch.js', schedFile(file), 'sched watch');
  if (proc.pid !== undefined) watched.set(proc.pid, 'watcher');
  return proc;
}

/** Tells the watcher the processes to sample now; resolves once it has them. */
async function watchPids(proc: ChildProcess | undefined): Promise<void> {
  if (proc === undefined) return;
  const ack = new Promise<void>((resolve) => proc.once('message', () => resolve()));
  proc.send({ pids: Object.fromEntries(watched) });
  await withTimeout(ack, 'sched watch');
}

/** The slowest 1 %'s waits (due to arrival, epoch ms), merged, and the phase's span. */
function tailWindows(r: OpenResult): { tail: [number, number][]; span: [number, number] } {
  const sorted = [...r.latency].filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  const p99 = sorted[Math.floor(sorted.length * 0.99)] ?? Number.POSITIVE_INFINITY;
  const windows: [number, number][] = [];
  let endMs = 0;
  for (let i = 0; i < r.count; i++) {
    const latency = r.latency[i]!;
    endMs = Math.max(endMs, r.due[i]! + (latency || 0));
    if (latency >= p99) windows.push([origin(r.due[i]!), origin(r.due[i]! + latency)]);
  }
  return { tail: mergeWindows(windows), span: [origin(r.due[0] ?? 0), origin(endMs)] };
}

/** Per watched process, its threads' times now, to be compared after a phase. */
const schedNow = () => new Map([...watched.keys()].map((pid) => [pid, threadTimesOf(pid)]));

/** `LATENCY_SCHED`: each watched process's threads over the phase, and what ran while the tail waited. */
function schedReport(label: string, r: OpenResult, before: ReturnType<typeof schedNow>, file: string): void {
  for (const [pid, times] of before)
    process.stdout.write(`  sched, ${label}, ${watched.get(pid)}: ${schedSummary(pid, times)}\n`);
  const { tail, span } = tailWindows(r);
  process.stdout.write(
    `  sched tail, ${label}, ${tailSched(readSched(schedFile(file)), watched, tail, span)}\n`,
  );
}

/** Seconds the probe watches the broker idle before the first phase. */
const idleSeconds = 3;

/** The closed-loop maximum, printed with the broker's CPU per message and the load average. */
async function closedLoop(
  cli: { pid: number; probe: ReturnType<typeof probeReader> | undefined },
  name: string,
  factory: PipeFactory,
  port: number,
): Promise<number> {
  const cpuBefore = cpuMsOf(cli.pid);
  const loadBefore = loadavg()[0]!;
  cli.probe?.begin();
  const { rate, count } = await maxRate(factory, port);
  const tally = cli.probe?.end();
  const cpuUs = ((cpuMsOf(cli.pid) - cpuBefore) * 1000) / Math.max(1, count);
  process.stdout.write(
    `  ${name} closed loop, ${windowMax} in flight: ${Math.round(rate)} msg/s (${count}), broker CPU ${cpuUs.toFixed(1)} µs/msg, load ${loadBefore.toFixed(1)}–${loadavg()[0]!.toFixed(1)}${tally === undefined ? '' : `; probe ${probeSummary(tally, count)}`}\n`,
  );
  return rate;
}

/** `LATENCY_BROKER=shared`: one broker serves every protocol in turn (the method before 5 December 2026 17:00 UTC). */
const sharedBroker = process.env['LATENCY_BROKER'] === 'shared';
/** Before each phase: a pause for the broker and a collection in the bench process; `LATENCY_SETTLE=0` skips both. */
const settleMs = process.env['LATENCY_SETTLE'] === '0' ? 0 : 1_000;
/** `LATENCY_BROKER_CLI=<other build>/dist/cli/switchyard.js`: that build's broker under this bench (A/B). */
const brokerCli = process.env['LATENCY_BROKER_CLI'];

/** The bench process's own collector, reached without `--expose-gc` on the command line. */
const collectGarbage = (() => {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();

async function settle(): Promise<void> {
  if (settleMs === 0) return;
  await sleep(settleMs);
  collectGarbage();
}

type Broker = Awaited<ReturnType<typeof startCli>> & { readonly probe: ReturnType<typeof probeReader> };

async function startBroker(): Promise<Broker> {
  const probe = probeReader();
  const cli = await startCli(
    [
      ...['--storage', 'memory', '--amqp-port', 'auto', '--mqtt-port', 'auto', '--kafka-port', 'auto'],
      ...['--mqtt-ws-port', '0', '--grpc-port', '0', '--rest-port', '0', '--http-port', '0'],
      ...['--log-level', 'warn'],
    ],
    {
      lifetimeMs: 600_000,
      ...(brokerCli === undefined ? {} : { cliPath: brokerCli }),
      ...(nodeArgs === undefined ? {} : { nodeArgs }),
      ...(ownSession ? { ownSession } : {}),
      ...(brokerNodeOptions === undefined
        ? {}
        : {
            env: {
              NODE_OPTIONS: brokerNodeOptions,
              ...(profileDir === undefined ? {} : { LATENCY_PROFILE_DIR: profileDir }),
              ...(gapsFile === undefined ? {} : { LATENCY_GAPS_FILE: gapsFile }),
            },
            onStderr: (chunk: string) => {
              probe.feed(chunk);
              if (process.env['LATENCY_PROBE_LINES'] === '1') process.stderr.write(chunk);
            },
          }),
    },
  );
  if (probeOptions !== undefined) {
    await sleep(1000);
    probe.begin();
    await sleep(idleSeconds * 1000 + 100);
    const idle = probe.end();
    if (idle !== undefined && idle.seconds > 0) idleKiBPerS = idle.allocatedKiB / idle.seconds;
    process.stdout.write(`  idle broker: ${idleKiBPerS.toFixed(0)} KiB/s allocated\n`);
  }
  return Object.assign(cli, { probe });
}

async function stopBroker(broker: Broker): Promise<void> {
  const stopped = await broker.stop();
  // `LATENCY_BROKER_STDOUT=<file>`: what the broker printed (`--trace-gc` lines, for one).
  const stdoutFile = process.env['LATENCY_BROKER_STDOUT'];
  if (stdoutFile !== undefined) writeFileSync(stdoutFile, stopped.stdout, { flag: 'a' });
}

/** One protocol: its maximum, then a phase per share of it, each a row of `lines`. */
async function runProtocol(name: string, broker: Broker, lines: string[]): Promise<void> {
  const { factory, what } = protocols[name]!;
  const port = broker.ports[name as 'amqp' | 'mqtt' | 'kafka']!;
  const probe = probeOptions === undefined ? undefined : broker.probe;
  const closedMax =
    fixedRate > 0 ? fixedRate : await closedLoop({ pid: broker.pid, probe }, name, factory, port);
  // A rate given is the maximum itself, as with the closed loop.
  const searched = stepMax && !(fixedRate > 0);
  if (searched) await settle();
  const search = searched ? await stepSearch(name, port, closedMax * 0.1) : undefined;
  const max = search?.confirmed ?? closedMax;
  if (search !== undefined)
    process.stdout.write(
      `  ${name}: closed loop ${Math.round(closedMax)}/s, step search ${Math.round(search.found)}/s${quickSteps ? '' : `, confirmed ${Math.round(search.confirmed)}/s`}\n`,
    );
  for (const share of loadShares) {
    await settle();
    const label = `${name} ${share * 100} %`;
    if (probe !== undefined)
      process.stderr.write(`phase ${new Date().toISOString().slice(11, 19)} ${label}\n`);
    if (profileDir !== undefined) process.kill(broker.pid, 'SIGUSR2');
    const loadBefore = loadavg()[0]!;
    const cpuBefore = cpuMsOf(broker.pid);
    const cpuTimesBefore = cpuTimesOf();
    probe?.begin();
    benchGaps.length = 0;
    if (schedOn && gapsFile !== undefined) writeFileSync(schedFile(gapsFile), '');
    const schedBefore = schedOn ? schedNow() : undefined;
    const r = await phase(name, port, Math.max(1, Math.round(max * share)));
    const cpuTimesAfter = cpuTimesOf();
    const tally = probe?.end();
    const cpuUs = ((cpuMsOf(broker.pid) - cpuBefore) * 1000) / r.count;
    if (profileDir !== undefined) process.kill(broker.pid, 'SIGUSR2');
    lines.push(
      `| ${what} | ${Math.round(max).toLocaleString('en')} | ${share * 100} % | ${r.rate.toLocaleString('en')} | ${r.count.toLocaleString('en')} | ${r.lost} | ${r.p50Ms.toFixed(2)} | ${r.p99Ms.toFixed(2)} | ${r.p999Ms.toFixed(2)} | ${cpuUs.toFixed(1)} | ${loadBefore.toFixed(1)}–${loadavg()[0]!.toFixed(1)} |`,
    );
    process.stdout.write(`${lines.at(-1)}\n`);
    const where = splitClients ? 'in their own processes' : 'in the bench process';
    const late =
      r.sentLateMs === undefined
        ? ''
        : `; sent p50 ${r.sentLateMs[0].toFixed(2)} / p99 ${r.sentLateMs[1].toFixed(2)} ms after due; from sending p50 ${r.fromSentMs?.[0].toFixed(2)} / p99 ${r.fromSentMs?.[1].toFixed(2)} ms`;
    process.stdout.write(
      `  clients, ${label}: ${((r.clientsCpuMs * 1000) / r.count).toFixed(1)} µs CPU per message ${where}${late}\n`,
    );
    if (tally !== undefined) process.stdout.write(`  probe, ${label}, ${probeSummary(tally, r.count)}\n`);
    if (gapsFile !== undefined) {
      await sleep(1200); // the probe appends its gaps once a second
      const idle = phaseGaps(readGaps(idleGapsFile(gapsFile)), r);
      process.stdout.write(`  tail, ${label}, ${tailCauses(r, readGaps(gapsFile), idle)}\n`);
      const [fromMs, toMs] = tailWindows(r).span;
      process.stdout.write(`  bench process, ${label}, ${gcSummary(benchGaps, fromMs, toMs)}\n`);
      process.stdout.write(`  machine, ${label}, ${machineSummary(idle, cpuTimesBefore, cpuTimesAfter)}\n`);
      if (schedBefore !== undefined) schedReport(label, r, schedBefore, gapsFile);
    }
  }
}

export async function runLatencyBench(names: readonly string[] = []): Promise<void> {
  const chosen = names.length === 0 ? Object.keys(protocols) : names;
  const unknown = chosen.filter((n) => protocols[n] === undefined);
  if (unknown.length > 0) throw new Error(`unknown protocol ${unknown.join(', ')}; known: amqp, mqtt, kafka`);
  const maximum = stepMax
    ? `step search from 10 % of the closed-loop figure (${stepDurationMs / 1000} s steps ×${stepFactor}, p50 at most the ${quickSteps ? "first step's" : 'lowest step p50'} + max(${stepP50RiseMs} ms, itself))${quickSteps ? ' (LATENCY_STEP=quick)' : `, confirmed by ${confirmRuns} runs of ${openDurationMs / 1000} s in a row with that p50 overall and over the last ${confirmTailShare * 100} %, nothing lost (else ÷${stepFactor})`}`
    : `closed loop, ${windowMax} in flight, ${maxDurationMs / 1000} s (LATENCY_MAX=closed)`;
  const lines = [
    `open loop, ${payloadBytes} B messages, ${openDurationMs / 1000} s per load; maximum: ${maximum}; latency from each message's due time; ${pacerKind === 'thread' ? 'sent when due by a pacing thread' : "sent on Node's 1 ms timer (LATENCY_PACER=timer)"}; clients ${splitClients ? 'in processes of their own (LATENCY_CLIENTS=split)' : 'in the bench process'}; ${sharedBroker ? 'one broker for all protocols (LATENCY_BROKER=shared)' : 'a broker per protocol'}; ${settleMs === 0 ? 'no settling (LATENCY_SETTLE=0)' : `${settleMs} ms and a collection in the bench process before each phase`}${brokerCli === undefined ? '' : `; broker ${brokerCli}`}${cpusSplit ? `; bench on CPU ${benchCpu}, each broker on CPU ${brokerCpu} (LATENCY_CPUS=split)` : ''}${extraNodeOptions === undefined ? '' : `; broker NODE_OPTIONS ${extraNodeOptions}`}${nodeArgs === undefined ? '' : `; broker node ${nodeArgs.join(' ')}`}${ownSession ? '; each broker in a session (autogroup) of its own (LATENCY_BROKER_SESSION=own)' : ''}`,
    '',
    '| protocol | maximum msg/s | load | rate msg/s | messages | lost | p50 ms | p99 ms | p99.9 ms | broker CPU µs/msg | load average |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  let broker: Broker | undefined;
  const idleWatch = gapsFile === undefined ? undefined : await startIdleWatch(gapsFile);
  if (idleWatch?.pid !== undefined) watched.set(idleWatch.pid, 'idle');
  const schedWatch = schedOn && gapsFile !== undefined ? await startSchedWatch(gapsFile) : undefined;
  if (cpusSplit) pin(process.pid, benchCpu);
  try {
    for (const name of chosen) {
      if (broker !== undefined && !sharedBroker) {
        watched.delete(broker.pid);
        await stopBroker(broker);
        broker = undefined;
      }
      if (broker === undefined) {
        broker = await startBroker();
        if (cpusSplit) pin(broker.pid, brokerCpu);
        watched.set(broker.pid, 'broker');
        await watchPids(schedWatch);
      }
      await runProtocol(name, broker, lines);
    }
  } finally {
    idleWatch?.disconnect();
    schedWatch?.disconnect();
    if (gapsFile !== undefined) {
      rmSync(gapsFile, { force: true });
      rmSync(idleGapsFile(gapsFile), { force: true });
      rmSync(schedFile(gapsFile), { force: true });
    }
    if (broker !== undefined) await stopBroker(broker);
  }
  process.stdout.write(`\n${lines.join('\n')}\n`);
}
