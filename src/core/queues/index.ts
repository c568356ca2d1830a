/** Classic (FIFO and priority) queues. `createQueue` is the `QueueFactory` the vhost uses. */
import { assert } from '../../shared/assert.js';
import type { QueueFactory } from '../internal.js';
import { ClassicQueue } from './classic-queue.js';
import { validateQueueOptions } from './options.js';

export { BodyCache } from './body-cache.js';
export { ClassicQueue, type QueueStats } from './classic-queue.js';
export { queueLogNames } from './names.js';

export const createQueue: QueueFactory = async (name, options, deps) => {
  validateQueueOptions(name, options);
  assert(options.kind !== 'stream', 'stream queues are served by the stream registry');
  const queue = new ClassicQueue(name, options, deps);
  if (options.durable === true && deps.storage !== undefined) await queue.open(deps.storage);
  queue.touch();
  return queue;
};
