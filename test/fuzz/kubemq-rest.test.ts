/**
 * Seeded mutations of recorded KubeMQ REST and WebSocket client sessions (fetch, ws) against a
 * `switchyard start` child: the broker stays up, logs no escaped error, stays under its memory bound,
 * and a fresh real client still does a full round trip after every batch. Longer runs:
 * `npm run fuzz -- kubemq-rest --cases N` (testing/fuzz/).
 */
import { fuzzSuite } from '../../testing/fuzz/suite.js';

fuzzSuite('kubemq-rest', {
  seed: 20_251_204,
  cases: 1500,
  casesMin: 200,
  timeMsMax: 6_000,
  concurrency: 32,
  closeWaitMs: 500,
});
