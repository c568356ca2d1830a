/**
 * Tx class (90): publishes and settlements are held until tx.commit and dropped by tx.rollback.
 * As in RabbitMQ there is no atomicity across queues; commit-ok waits until the held publishes are
 * as durable as their queues promise, and a held publish that could not be stored (the queue's disk
 * failed) closes the channel with that error instead: a commit-ok is a promise that the messages are
 * safe. A publish a full queue refused (`reject-publish`) does not fail the commit, as in RabbitMQ,
 * where only confirms report such refusals. A confirm channel cannot become transactional (406).
 */

import { ErrorCode, isBrokerError } from '../../../shared/errors.js';
import type { AmqpChannel, HandlerTable } from '../channel.js';
import { methodInfo, ReplyCode } from '../codec/index.js';
import { channelError } from '../errors.js';

function select(channel: AmqpChannel): void {
  if (channel.confirms !== undefined)
    throw channelError(ReplyCode.preconditionFailed, 'cannot switch from confirm to tx mode');
  channel.tx ??= [];
  channel.send({ name: 'tx.select-ok', fields: {} });
}

function commit(channel: AmqpChannel): void {
  const held = channel.tx;
  if (held === undefined) throw channelError(ReplyCode.preconditionFailed, 'channel is not transactional');
  channel.tx = [];
  const waits: Array<Promise<void>> = [];
  for (const operation of held) {
    const result = operation();
    if (result !== undefined) waits.push(result.catch(refusalIsNotFailure));
  }
  Promise.all(waits).then(
    () => {
      if (channel.state === 'open') channel.send({ name: 'tx.commit-ok', fields: {} });
    },
    (err: unknown) => {
      if (channel.state === 'open') channel.fail(err, methodInfo['tx.commit']);
    },
  );
}

/** A full queue's refusal is not a failed commit; anything else (a failed write) is. */
function refusalIsNotFailure(err: unknown): void {
  if (!isBrokerError(err, ErrorCode.resourceExhausted)) throw err;
}

function rollback(channel: AmqpChannel): void {
  if (channel.tx === undefined)
    throw channelError(ReplyCode.preconditionFailed, 'channel is not transactional');
  channel.tx = [];
  channel.send({ name: 'tx.rollback-ok', fields: {} });
}

export const txHandlers: HandlerTable = {
  'tx.select': select,
  'tx.commit': commit,
  'tx.rollback': rollback,
};
