/** Range checks for queue settings; adapters parse `x-` arguments, core decides what is allowed. */
import { brokerError, ErrorCode } from '../../shared/errors.js';
import type { QueueOptions } from '../types.js';

/** RabbitMQ's classic queues accept up to 255 priorities; we follow. */
export const priorityMaxLimit = 255;
/** Timers longer than this are refused (RabbitMQ's x-message-ttl and x-expires are 32-bit too). */
export const durationMsMax = 2 ** 32 - 1;

function wholeNumber(name: string, value: number | undefined, min: number, max: number): void {
  if (value === undefined) return;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw brokerError(
      ErrorCode.invalidArgument,
      `Queue argument ${name} must be an integer in ${min}–${max}, got ${value}`,
    );
  }
}

export function validateQueueOptions(options: QueueOptions): void {
  wholeNumber('priorityMax', options.priorityMax, 1, priorityMaxLimit);
  wholeNumber('messageTtlMs', options.messageTtlMs, 0, durationMsMax);
  wholeNumber('expiresMs', options.expiresMs, 1, durationMsMax);
  wholeNumber('lengthMax', options.lengthMax, 0, Number.MAX_SAFE_INTEGER);
  wholeNumber('bytesMax', options.bytesMax, 0, Number.MAX_SAFE_INTEGER);
  wholeNumber('deliveryLimit', options.deliveryLimit, 0, Number.MAX_SAFE_INTEGER);
  const overflow = options.overflow;
  if (overflow !== undefined && !['drop-head', 'reject-publish', 'reject-publish-dlx'].includes(overflow)) {
    throw brokerError(ErrorCode.invalidArgument, `Unknown overflow policy '${overflow}'`);
  }
  if (options.kind === 'stream') {
    throw brokerError(ErrorCode.invalidArgument, 'Stream queues are served by the stream registry');
  }
}
