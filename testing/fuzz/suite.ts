/** The fuzz tier of `npm test`: one bounded run per protocol with a fixed seed (test/fuzz/<protocol>.test.ts). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Protocol } from './dialects/index.js';
import { fuzz } from './fuzzer.js';
import { summary } from './summary.js';

export interface SuiteOptions {
  readonly seed: number;
  readonly cases: number;
  /** Fewer cases run when the machine is slow; at least this many must. */
  readonly casesMin: number;
  readonly timeMsMax: number;
  readonly concurrency?: number;
  /**
   * How long a case waits for the broker to close after the client ended (2 s by default): streams and
   * subscriptions are meant to stay open, so the KubeMQ tiers wait less for them.
   */
  readonly closeWaitMs?: number;
}

export function fuzzSuite(protocol: Protocol, options: SuiteOptions): void {
  test(`${protocol}: ${options.cases} mutated sessions of recorded client traffic leave the broker alive and serving`, async (t) => {
    const report = await fuzz({
      protocol,
      seed: options.seed,
      cases: options.cases,
      batchCases: Math.ceil(options.cases / 4),
      concurrency: options.concurrency ?? 16,
      timeMsMax: options.timeMsMax,
      rssBytesMax: 768 * 2 ** 20,
      isolate: true,
      ...(options.closeWaitMs === undefined ? {} : { closeWaitMs: options.closeWaitMs }),
    });
    const text = summary(report);
    t.diagnostic(text);
    assert.equal(report.failures.length, 0, text);
    assert.ok(report.casesRun >= options.casesMin, `only ${report.casesRun} cases ran\n${text}`);
  });
}
