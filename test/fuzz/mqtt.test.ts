/**
 * Seeded mutations of recorded mqtt client sessions against a `switchyard start` child: the broker
 * stays up, logs no escaped error, stays under its memory bound, and a fresh real client still does a
 * full round trip after every batch. Longer runs: `npm run fuzz -- mqtt --cases N` (testing/fuzz/).
 */
import { fuzzSuite } from '../../testing/fuzz/suite.js';

fuzzSuite('mqtt', { seed: 20_251_204, cases: 2000, casesMin: 200, timeMsMax: 6_000 });
