/**
 * Confirm class (85, RabbitMQ extension): confirm.select turns on publisher confirms for the channel;
 * a transactional channel cannot switch (406), as in RabbitMQ.
 */

import { isBrokerError } from '../../../shared/errors.js';
import type { AmqpChannel, HandlerTable } from '../channel.js';
import type { ConfirmSelect } from '../codec/index.js';
import { ReplyCode } from '../codec/index.js';
import { ConfirmTracker } from '../confirms.js';
import { channelError } from '../errors.js';

function countConfirms(channel: AmqpChannel, count: number): void {
  try {
    channel.core.countConfirms(count, channel.number);
  } catch (err) {
    // The connection is closing under the frame: its counts go with it.
    if (!isBrokerError(err)) throw err;
  }
}

function select(channel: AmqpChannel, f: ConfirmSelect): void {
  if (channel.tx !== undefined)
    throw channelError(ReplyCode.preconditionFailed, 'cannot switch from tx to confirm mode');
  channel.confirms ??= new ConfirmTracker((outcome, deliveryTag, multiple, count) => {
    if (channel.state !== 'open') return;
    if (outcome === 'ack') {
      channel.send({ name: 'basic.ack', fields: { deliveryTag, multiple } });
      // RabbitMQ's `confirm` in message_stats: one command per frame, not per message.
      countConfirms(channel, count);
    } else channel.send({ name: 'basic.nack', fields: { deliveryTag, multiple, requeue: false } });
  });
  if (!f.noWait) channel.send({ name: 'confirm.select-ok', fields: {} });
}

export const confirmHandlers: HandlerTable = {
  'confirm.select': select,
};
