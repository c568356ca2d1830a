/** The HTTP admin API for the fuzzer: requests as recorded from Node's fetch, mutated as text and bytes. */
import type { Dialect } from '../dialect.js';
import { httpTextMutations, repairRequest, splitRequests } from './http-text.js';

export const httpDialect: Dialect = {
  name: 'http',
  split: splitRequests,
  context: () => undefined,
  fields: () => [],
  repair: (frame) => repairRequest(frame),
  opening: () => 0,
  extraMutations: httpTextMutations,
};
