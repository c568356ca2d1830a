#!/usr/bin/env node
/**
 * Prints the compiled test files `npm test` runs, one a line, the longest first.
 *
 *   node --test --test-concurrency=2 $(node scripts/test-files.mjs)
 *
 * `node --test` starts files in the order it is given them, two at a time: a long file that starts
 * when every other has finished ends the suite alone on one core. The files named in `longestFirst`
 * start first, in that order; every other one follows in path order. A name here that no longer
 * matches a file is only warned about, so a renamed test still runs (last, until this list is fixed).
 *
 * Like `node --test dist/test/`, every `.js` file under dist/test/ is a test file (Node 20's runner
 * runs every file of a folder named `test`).
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const root = 'dist/test';

/**
 * The files that take longest, longest first, by path under test/ without `.test.ts`. From the
 * per-file durations of a full run (test/README.md, "Time budget"); a file only needs to be here
 * when it takes many times the median file, so the order is coarse on purpose.
 */
export const longestFirst = [
  'server/cli-client',
  'conformance/kafka/transactions-crash',
  'conformance/mqtt/qos2-out-crash',
  'server/admin-crash',
  'conformance/kubemq/queues',
  'conformance/kafka/sasl',
  'conformance/kafka/kip848-client',
  'conformance/mqtt/qos2-crash',
  'fuzz/findings',
  'fuzz/kafka',
  'storage/crash',
  'conformance/kubemq/fuzz',
  'server/cli',
  'e2e/dashboard',
  'conformance/kafka/compaction',
  'conformance/amqp/declare-crash',
  'e2e/lifecycle',
  'server/cli-manage',
  'fuzz/http',
  'fuzz/mqtt-ws',
  'fuzz/amqp',
  'fuzz/mqtt',
  'fuzz/kubemq-grpc',
  'fuzz/kubemq-rest',
  'server/cli-policies',
  'streams/compaction-thread',
  'conformance/kafka/transactions',
  'conformance/kafka/transactions-fencing',
  'conformance/mqtt/kill-at-rate',
  'conformance/mqtt/hostile-ws',
  'e2e/tls',
];

function jsFiles(dir) {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.js'))
    .map((entry) => join(entry.parentPath ?? entry.path, entry.name))
    .sort();
}

export function testFiles() {
  if (!existsSync(root)) throw new Error(`${root} is missing: build first (tsc -b)`);
  const all = jsFiles(root);
  const present = new Set(all);
  const first = [];
  for (const name of longestFirst) {
    const file = join(root, `${name}.test.js`);
    if (present.has(file)) first.push(file);
    else process.stderr.write(`scripts/test-files.mjs: ${file} is not there; fix longestFirst\n`);
  }
  const chosen = new Set(first);
  return [...first, ...all.filter((file) => !chosen.has(file))];
}

process.stdout.write(`${testFiles().join('\n')}\n`);
