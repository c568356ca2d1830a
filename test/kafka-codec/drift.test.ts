/** The committed generated codec must equal what scripts/gen-kafka.mjs renders from spec/kafka today. */
import { it } from 'node:test';
import { assertGeneratedUpToDate } from '../../testing/generated-drift.js';

it('generated Kafka codec matches a fresh render (run `node scripts/gen-kafka.mjs` to update)', () =>
  assertGeneratedUpToDate('gen-kafka.mjs'));
