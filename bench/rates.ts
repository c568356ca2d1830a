/**
 * `npm run bench -- rates`: what message rates cost the publish path (the goal: under 3 %). A core
 * in memory holds 100,000 queues that have each been published to, so the sampler reads 100,000
 * queue counters every 5 s, as on a large broker. Three figures:
 *
 * - publishes per CPU second of the process through `CoreClient.publish` (256 B, transient, to one
 *   queue bounded with drop-head) in runs of 6 s, the event loop turning every 1,000 messages so the
 *   sampler's timer fires in every run; runs alternate the sampler on and off, paired by round (CPU
 *   time, so that what other processes take from a shared machine does not count);
 * - one sample of every counter, timed alone (its share of each 5 s interval);
 * - the meter step of one publish (`Meters.record`), timed alone, against the time of one publish.
 */
import { performance } from 'node:perf_hooks';
import { BrokerCore } from '../src/core/broker.js';
import { internalContext } from '../src/core/entry/context.js';
import { MemoryStorage } from '../src/storage/memory.js';
import { median } from './stats.js';

const queues = 100_000;
const runMs = 6_000;
const rounds = 4;
const batch = 1_000;
const body = new Uint8Array(256);
const meterCalls = 1_000_000;
const meterRuns = 5;

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** CPU seconds this process has used (user and system): other processes on the machine do not count. */
function cpuSeconds(since?: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1e6;
}

/** Publishes per CPU second over one run (a loaded machine's stolen time left out). */
async function publishRun(publish: () => void): Promise<number> {
  const start = performance.now();
  const cpu = process.cpuUsage();
  let sent = 0;
  while (performance.now() - start < runMs) {
    for (let i = 0; i < batch; i++) publish();
    sent += batch;
    await turn();
  }
  return sent / cpuSeconds(cpu);
}

export async function runRatesBench(): Promise<void> {
  const core = await BrokerCore.open({ storage: new MemoryStorage(), limits: { queuesMax: 2 * queues } });
  try {
    const client = core.connect(internalContext('/', 'bench'));
    for (let i = 0; i < queues; i++) {
      client.declareQueue(`m.${i}`, { durable: false });
      client.publish('', `m.${i}`, { body, properties: {} });
    }
    client.declareQueue('bench', { durable: false, lengthMax: 10_000, overflow: 'drop-head' });
    const publish = () => void client.publish('', 'bench', { body, properties: {} });
    const on: number[] = [];
    const off: number[] = [];
    // Warm-up, not counted: the collector's work on what the declarations left comes first.
    await publishRun(publish);
    for (let round = 0; round < rounds; round++) {
      for (const sampling of round % 2 === 0 ? [true, false] : [false, true]) {
        if (sampling) core.rates.start();
        else core.rates.stop();
        (sampling ? on : off).push(await publishRun(publish));
      }
    }
    core.rates.stop();
    const sampleTimes: number[] = [];
    for (let i = 0; i < 5; i++) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      const start = performance.now();
      core.rates.sample();
      sampleTimes.push(performance.now() - start);
    }
    const sampleMs = median(sampleTimes);
    const meterNs = timeMeterStep(core);
    report({ on, off, sampleMs, meterNs });
  } finally {
    await core.close();
  }
}

/** One publish's meter step: the counters of the vhost, the exchange, the queue and the connection. */
function timeMeterStep(core: BrokerCore): number {
  const context = internalContext('/', 'bench');
  const command = {
    kind: 'message.publish',
    exchange: '',
    routingKey: 'bench',
    message: { body, properties: {} },
    options: {},
  } as const;
  // A set of queue names, as the vhost's publish returns: an array here made the loop measure another shape.
  const result = { routedCount: 1, confirmed: Promise.resolve(), queues: new Set(['bench']) };
  // The median of several runs: on a loaded machine one run alone swung 3× (docs/performance.md).
  const runs: number[] = [];
  for (let run = 0; run < meterRuns; run++) {
    const cpu = process.cpuUsage();
    for (let i = 0; i < meterCalls; i++) core.meters.record(context, command, result);
    runs.push((cpuSeconds(cpu) * 1e9) / meterCalls);
  }
  return median(runs);
}

function report(r: { on: number[]; off: number[]; sampleMs: number; meterNs: number }): void {
  const ratios = r.on.map((rate, i) => rate / (r.off[i] as number));
  const publishNs = 1e9 / median(r.off);
  const lines = [
    `rates: ${queues.toLocaleString('en')} counted queues; publishes of 256 B to one queue, ${runMs / 1000} s runs, ${rounds} rounds`,
    `  sampler on:  ${r.on.map((v) => v.toFixed(0)).join(' / ')} msg per CPU s`,
    `  sampler off: ${r.off.map((v) => v.toFixed(0)).join(' / ')} msg per CPU s`,
    `  on/off by round: ${ratios.map((v) => v.toFixed(3)).join(' / ')} (median cost ${(100 * (1 - median(ratios))).toFixed(1)} %)`,
    `  one sample of every counter: ${r.sampleMs.toFixed(1)} ms, ${((100 * r.sampleMs) / 5000).toFixed(2)} % of each 5 s`,
    `  meter step: ${r.meterNs.toFixed(0)} ns of a ${publishNs.toFixed(0)} ns publish (${((100 * r.meterNs) / publishNs).toFixed(1)} %)`,
  ];
  console.log(lines.join('\n'));
}
