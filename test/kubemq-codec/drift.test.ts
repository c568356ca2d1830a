/** The committed schema table must equal what scripts/gen-kubemq.mjs renders from spec/kubemq today. */
import { it } from 'node:test';
import { assertGeneratedUpToDate } from '../../testing/generated-drift.js';

it('generated KubeMQ schema table matches a fresh render (run `node scripts/gen-kubemq.mjs` to update)', () =>
  assertGeneratedUpToDate('gen-kubemq.mjs'));
