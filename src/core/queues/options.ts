/**
 * The one validator of queue settings. Adapters parse their arguments (`x-` arguments, KubeMQ
 * policies) into `QueueOptions`; core decides what is allowed, and every message names the queue.
 */
import { brokerError, ErrorCode } from '../../shared/errors.js';
import type { QueueOptions } from '../types.js';

/** RabbitMQ's classic queues accept up to 255 priorities; we follow. */
export const priorityLevelsMax = 255;
/** Timers longer than this are refused (RabbitMQ's x-message-ttl and x-expires are 32-bit too). */
export const durationMsMax = 2 ** 32 - 1;

const overflowPolicies: ReadonlySet<string> = new Set(['drop-head', 'reject-publish', 'reject-publish-dlx']);

export function validateQueueOptions(name: string, options: QueueOptions): void {
  whole(name, 'priorityMax', options.priorityMax, 1, priorityLevelsMax);
  whole(name, 'messageTtlMs', options.messageTtlMs, 0, durationMsMax);
  whole(name, 'expiresMs', options.expiresMs, 1, durationMsMax);
  whole(name, 'lengthMax', options.lengthMax, 0, Number.MAX_SAFE_INTEGER);
  whole(name, 'bytesMax', options.bytesMax, 0, Number.MAX_SAFE_INTEGER);
  whole(name, 'deliveryLimit', options.deliveryLimit, 0, Number.MAX_SAFE_INTEGER);
  whole(name, 'partitions', options.partitions, 1, Number.MAX_SAFE_INTEGER);
  const overflow = options.overflow;
  if (overflow !== undefined && !overflowPolicies.has(overflow)) {
    throw brokerError(ErrorCode.invalidArgument, `Unknown overflow policy '${overflow}' for queue '${name}'`);
  }
  if (options.kind !== 'stream') return;
  // RabbitMQ: stream queues must be durable, non-exclusive and not auto-delete (406 otherwise).
  if (options.durable !== true || options.exclusiveOwner !== undefined || options.autoDelete === true) {
    throw brokerError(
      ErrorCode.preconditionFailed,
      `Stream queue '${name}' must be durable, not exclusive and not auto-delete`,
    );
  }
}

function whole(queue: string, field: string, value: number | undefined, min: number, max: number): void {
  if (value === undefined) return;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw brokerError(
      ErrorCode.invalidArgument,
      `Queue '${queue}' argument ${field} must be an integer in ${min}–${max}, got ${value}`,
    );
  }
}

/**
 * A queue declared `x-queue-type: quorum`: served as a durable classic queue that keeps its messages'
 * delivery counts across a restart, as RabbitMQ's quorum queues do.
 */
export function isQuorumQueue(options: QueueOptions): boolean {
  return options.kind !== 'stream' && options.arguments?.['x-queue-type'] === 'quorum';
}
