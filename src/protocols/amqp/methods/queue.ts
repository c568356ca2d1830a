/**
 * Queue class (50): declare (passive, durable, exclusive, auto-delete, server-named, `x-` arguments
 * parsed in ../arguments.ts), bind, unbind, purge, delete (if-unused, if-empty). Exclusive queues
 * belong to the connection; core deletes them when it closes.
 */

import { parseQueueArguments } from '../arguments.js';
import type { AmqpChannel, HandlerTable } from '../channel.js';
import type { QueueBind, QueueDeclare, QueueDelete, QueuePurge, QueueUnbind } from '../codec/index.js';
import { toHeaders } from '../header-values.js';
import { replyToQueue } from '../reply-to.js';

/** spec queue.declare: an empty name in later methods means the channel's last declared queue. */
function queueName(channel: AmqpChannel, name: string): string {
  return name === '' ? channel.lastQueue : name;
}

function declare(channel: AmqpChannel, f: QueueDeclare): void {
  const core = channel.core;
  let info: { name: string; messageCount: number; consumerCount: number };
  if (f.passive && f.queue === replyToQueue) {
    info = { name: replyToQueue, messageCount: 0, consumerCount: 0 };
  } else if (f.passive) {
    info = core.checkQueue(queueName(channel, f.queue));
  } else {
    const where = `queue '${f.queue}' in vhost '${core.vhost}'`;
    const options = parseQueueArguments(f.arguments, f, where);
    if (f.exclusive) options.exclusiveOwner = channel.conn.id;
    info = core.declareQueue(f.queue, options);
  }
  channel.lastQueue = info.name;
  if (f.noWait) return;
  const ok = {
    name: 'queue.declare-ok',
    fields: { queue: info.name, messageCount: info.messageCount, consumerCount: info.consumerCount },
  } as const;
  if (f.durable && !f.passive) channel.answerOnceDefined(ok, 'queue.declare');
  else channel.send(ok);
}

function bind(channel: AmqpChannel, f: QueueBind): void {
  channel.core.bindQueue(queueName(channel, f.queue), f.exchange, f.routingKey, toHeaders(f.arguments));
  // A binding of a durable queue is stored; one of a transient queue finds nothing pending.
  if (!f.noWait) channel.answerOnceDefined({ name: 'queue.bind-ok', fields: {} }, 'queue.bind');
}

function unbind(channel: AmqpChannel, f: QueueUnbind): void {
  channel.core.unbindQueue(queueName(channel, f.queue), f.exchange, f.routingKey, toHeaders(f.arguments));
  channel.answerOnceDefined({ name: 'queue.unbind-ok', fields: {} }, 'queue.unbind');
}

function purge(channel: AmqpChannel, f: QueuePurge): void {
  const messageCount = channel.core.purgeQueue(queueName(channel, f.queue));
  if (!f.noWait) channel.send({ name: 'queue.purge-ok', fields: { messageCount } });
}

function remove(channel: AmqpChannel, f: QueueDelete): void {
  const messageCount = channel.core.deleteQueue(queueName(channel, f.queue), {
    ifUnused: f.ifUnused,
    ifEmpty: f.ifEmpty,
  });
  // A deletion told to the client stays deleted after a crash (a transient queue finds nothing pending).
  if (!f.noWait)
    channel.answerOnceDefined({ name: 'queue.delete-ok', fields: { messageCount } }, 'queue.delete');
}

export const queueHandlers: HandlerTable = {
  'queue.declare': declare,
  'queue.bind': bind,
  'queue.unbind': unbind,
  'queue.purge': purge,
  'queue.delete': remove,
};
