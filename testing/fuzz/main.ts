/**
 * The fuzzers for long runs:
 *
 *   npm run fuzz -- <amqp|mqtt|mqtt-ws|kafka|http|all> --cases N [--seed S] [--first K]
 *                   [--concurrency C] [--batch B] [--rss-mib M] [--minutes T]
 *   npm run fuzz -- <protocol> --seed S --case K      replays case K alone, printing what it does
 *
 * Prints a summary per protocol; exits 1 when any check failed. The seed defaults to the time.
 */
import { parseArgs } from 'node:util';
import { loadCorpus } from './corpus.js';
import { dialects, isProtocol, type Protocol, protocols } from './dialects/index.js';
import { fuzz } from './fuzzer.js';
import { makeCase } from './mutate.js';
import { summary } from './summary.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    cases: { type: 'string', default: '10000' },
    seed: { type: 'string' },
    first: { type: 'string', default: '0' },
    case: { type: 'string' },
    concurrency: { type: 'string', default: '16' },
    batch: { type: 'string', default: '5000' },
    'rss-mib': { type: 'string', default: '1024' },
    minutes: { type: 'string' },
  },
});

async function main(): Promise<number> {
  const which = positionals[0] ?? 'all';
  if (which !== 'all' && !isProtocol(which))
    throw new Error(`unknown protocol ${which}; one of ${protocols.join(', ')}, all`);
  const list: readonly Protocol[] = which === 'all' ? protocols : [which];
  const seed = values.seed === undefined ? Date.now() % 2 ** 31 : Number(values.seed);
  if (values.case !== undefined) {
    const protocol = list[0]!;
    const index = Number(values.case);
    const c = makeCase(dialects[protocol], loadCorpus(protocol), seed, index);
    console.log(`${protocol} seed ${seed} case ${index}: ${c.steps.join('; ')}`);
    console.log(
      `  ${c.chunks.length} chunks, ${c.pace}, ${c.finish}; first bytes ${Buffer.from(c.chunks[0] ?? [])
        .subarray(0, 64)
        .toString('hex')}`,
    );
  }
  let failed = false;
  for (const protocol of list) {
    const report = await fuzz({
      protocol,
      seed,
      cases: values.case === undefined ? Number(values.cases) : 1,
      first: values.case === undefined ? Number(values.first) : Number(values.case),
      batchCases: Number(values.batch),
      concurrency: values.case === undefined ? Number(values.concurrency) : 1,
      rssBytesMax: Number(values['rss-mib']) * 2 ** 20,
      ...(values.minutes === undefined ? {} : { timeMsMax: Number(values.minutes) * 60_000 }),
      isolate: true,
      continueAfterFailure: true,
      progress: (line) => console.log(line),
    });
    console.log(summary(report));
    failed ||= report.failures.length > 0;
  }
  return failed ? 1 : 0;
}

process.exitCode = await main();
