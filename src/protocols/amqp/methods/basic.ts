/**
 * Basic class (60): qos (per consumer and per channel, RabbitMQ semantics), consume / cancel with the
 * server-sent cancel, publish with mandatory returns and confirms, get, ack / nack / reject, recover,
 * and direct reply-to. Publishing runs in two steps: `checkPublish` when the method frame arrives
 * (so a bad publish fails before its body is buffered) and `publishContent` once the body is whole.
 */
import { randomBytes } from 'node:crypto';
import type { PublishInput } from '../../../core/api.js';
import type { Delivery, Message, PublishResult } from '../../../core/types.js';
import { ErrorCode, isBrokerError } from '../../../shared/errors.js';
import { parseConsumerArguments } from '../arguments.js';
import type { AmqpChannel, ChannelConsumer, HandlerTable } from '../channel.js';
import type {
  BasicAck,
  BasicCancel,
  BasicConsume,
  BasicGet,
  BasicNack,
  BasicProperties,
  BasicPublish,
  BasicQos,
  BasicRecover,
  BasicRecoverAsync,
  BasicReject,
} from '../codec/index.js';
import { ReplyCode } from '../codec/index.js';
import { AmqpError, channelError, connectionError } from '../errors.js';
import { toBasicProperties, toCoreProperties, withDeliveryCount } from '../properties.js';
import { replyToPrefix, replyToQueue } from '../reply-to.js';

function qos(channel: AmqpChannel, f: BasicQos): void {
  // RabbitMQ does not implement prefetch-size.
  if (f.prefetchSize !== 0) throw new AmqpError(ReplyCode.notImplemented, 'prefetch_size!=0', true);
  if (f.global) channel.credit.setMax(f.prefetchCount);
  else channel.prefetch = f.prefetchCount;
  channel.send({ name: 'basic.qos-ok', fields: {} });
}

function consume(channel: AmqpChannel, f: BasicConsume): void {
  const queue = f.queue === '' ? channel.lastQueue : f.queue;
  const tag = f.consumerTag === '' ? `amq.ctag-${randomBytes(16).toString('base64url')}` : f.consumerTag;
  if (channel.consumers.has(tag)) {
    throw connectionError(ReplyCode.notAllowed, `attempt to reuse consumer tag '${tag}'`);
  }
  if (queue === replyToQueue) {
    consumeReplyTo(channel, f, tag);
    return;
  }
  const where = `queue '${queue}' in vhost '${channel.core.vhost}'`;
  const args = parseConsumerArguments(f.arguments, where, Date.now());
  const entry: ChannelConsumer = {
    tag,
    tagBytes: Buffer.from(tag),
    queue,
    noAck: f.noAck,
    // Known before consuming: the queue may hand out redeliveries from within `consume`.
    quorum: isQuorumQueue(channel, queue),
    consumer: undefined,
  };
  channel.consumers.set(tag, entry);
  try {
    entry.consumer = channel.core.consume(queue, {
      // Core wants tags unique per queue; AMQP only per channel.
      tag: `${channel.owner}/${tag}`,
      owner: channel.owner,
      noAck: f.noAck,
      exclusive: f.exclusive,
      prefetch: channel.prefetch,
      limits: [channel.credit],
      sendRoom: channel.conn.sendRoom,
      ...args,
      deliver: (delivery: Delivery) => channel.deliver(entry, delivery),
      cancelled: () => serverCancel(channel, entry),
    });
  } catch (err) {
    channel.consumers.delete(tag);
    throw consumeError(err, queue, channel.core.vhost);
  }
  if (!f.noWait) channel.send({ name: 'basic.consume-ok', fields: { consumerTag: tag } });
}

/** A queue declared `x-queue-type: quorum` (served by core as a classic queue that counts deliveries). */
function isQuorumQueue(channel: AmqpChannel, queue: string): boolean {
  // Asked on every basic.get: core's type query builds no row and counts nothing.
  return channel.core.queueType(queue) === 'quorum';
}

/** RabbitMQ: an exclusive-consumer conflict is 403, a queue exclusive to another connection 405. */
function consumeError(err: unknown, queue: string, vhost: string): unknown {
  if (
    isBrokerError(err, ErrorCode.resourceLocked) &&
    !err.message.includes('exclusive to another connection')
  ) {
    return channelError(ReplyCode.accessRefused, `queue '${queue}' in vhost '${vhost}' in exclusive use`);
  }
  return err;
}

function consumeReplyTo(channel: AmqpChannel, f: BasicConsume, tag: string): void {
  if (!f.noAck) throw channelError(ReplyCode.preconditionFailed, 'reply consumer cannot acknowledge');
  if (channel.replyToken !== undefined)
    throw channelError(ReplyCode.preconditionFailed, 'reply consumer already set');
  const entry: ChannelConsumer = {
    tag,
    tagBytes: Buffer.from(tag),
    queue: replyToQueue,
    noAck: true,
    quorum: false,
    consumer: undefined,
  };
  channel.consumers.set(tag, entry);
  channel.replyToken = channel.conn.shared.replyTo.register((message: Message) => {
    if (channel.state === 'open') channel.sendMessage(tag, channel.nextDeliveryTag(), false, message);
  });
  if (!f.noWait) channel.send({ name: 'basic.consume-ok', fields: { consumerTag: tag } });
}

/** The queue went away: tell clients that asked for it (capability `consumer_cancel_notify`). */
function serverCancel(channel: AmqpChannel, entry: ChannelConsumer): void {
  if (channel.consumers.get(entry.tag) !== entry) return;
  channel.consumers.delete(entry.tag);
  if (channel.state === 'open' && channel.conn.clientCapabilities.has('consumer_cancel_notify')) {
    channel.send({ name: 'basic.cancel', fields: { consumerTag: entry.tag, noWait: true } });
  }
}

function cancel(channel: AmqpChannel, f: BasicCancel): void {
  const entry = channel.consumers.get(f.consumerTag);
  if (entry !== undefined) {
    channel.consumers.delete(f.consumerTag);
    entry.consumer?.cancel();
    if (entry.queue === replyToQueue && channel.replyToken !== undefined) {
      channel.conn.shared.replyTo.unregister(channel.replyToken);
      channel.replyToken = undefined;
    }
  }
  if (!f.noWait) channel.send({ name: 'basic.cancel-ok', fields: { consumerTag: f.consumerTag } });
}

/** Checks made when basic.publish arrives, before its content (RabbitMQ fails these early too). */
export function checkPublish(channel: AmqpChannel, f: BasicPublish): void {
  if (f.immediate) throw new AmqpError(ReplyCode.notImplemented, 'immediate=true', true);
  if (f.exchange !== '') channel.core.checkExchange(f.exchange, { publishing: true });
}

export function publishContent(
  channel: AmqpChannel,
  f: BasicPublish,
  p: BasicProperties,
  body: Uint8Array,
): void {
  const properties = toCoreProperties(p);
  // RabbitMQ's validated user id: only an `impersonator` may publish in another user's name.
  const { user, tags } = channel.conn;
  if (properties.userId !== undefined && properties.userId !== user && !tags.includes('impersonator')) {
    throw channelError(
      ReplyCode.preconditionFailed,
      `user_id property set to '${properties.userId}' but authenticated user was '${user}'`,
    );
  }
  if (properties.replyTo === replyToQueue) {
    if (channel.replyToken === undefined)
      throw channelError(ReplyCode.preconditionFailed, 'fast reply consumer does not exist');
    properties.replyTo = `${replyToPrefix}${channel.replyToken}`;
  }
  const input: PublishInput = { body, properties };
  if (channel.tx !== undefined) {
    channel.tx.push(() => publishNow(channel, f, input).confirmed);
    return;
  }
  const result = publishNow(channel, f, input);
  channel.confirms?.track(result.confirmed);
}

const noRoute: PublishResult = { routedCount: 0, confirmed: Promise.resolve() };
const routedDirect: PublishResult = { routedCount: 1, confirmed: Promise.resolve() };

function publishNow(channel: AmqpChannel, f: BasicPublish, input: PublishInput): PublishResult {
  let result: PublishResult;
  if (f.exchange === '' && f.routingKey.startsWith(replyToPrefix)) {
    const message: Message = {
      exchange: '',
      routingKey: f.routingKey,
      body: input.body,
      properties: input.properties,
    };
    result = channel.conn.shared.replyTo.route(f.routingKey, message) ? routedDirect : noRoute;
  } else {
    result = channel.core.publish(f.exchange, f.routingKey, input, channel.conn.publishOptions(f.mandatory));
    if (result.queues !== undefined) channel.conn.fed(result.queues);
  }
  // The return goes out before the confirm (RabbitMQ: basic.return, then basic.ack).
  if (result.routedCount === 0 && f.mandatory) {
    const method = {
      name: 'basic.return' as const,
      fields: {
        replyCode: ReplyCode.noRoute,
        replyText: 'NO_ROUTE',
        exchange: f.exchange,
        routingKey: f.routingKey,
      },
    };
    channel.conn.sendContent(channel.number, method, toBasicProperties(input.properties), input.body);
  }
  return result;
}

/**
 * Answered as core's `take` finds it: after a quorum queue's returns land (a get after a nack answers
 * the returned message, as RabbitMQ applies methods in order) and once the delivery's count is written.
 * The connection reads nothing meanwhile, so later methods still follow the answer. Where nothing
 * waits (a classic queue) the answer goes at once, without stopping and starting the socket's reads.
 */
function get(channel: AmqpChannel, f: BasicGet): void {
  const queue = f.queue === '' ? channel.lastQueue : f.queue;
  const quorum = isQuorumQueue(channel, queue);
  const taking = channel.core.take(queue, { noAck: f.noAck, owner: channel.owner });
  if (Array.isArray(taking)) {
    answerGet(channel, f, taking[0], quorum);
    return;
  }
  let taken: Delivery | undefined;
  const landed = taking.then((got) => {
    taken = got[0];
  });
  channel.answerAfter(landed, 'basic.get', () => answerGet(channel, f, taken, quorum));
}

function answerGet(channel: AmqpChannel, f: BasicGet, delivery: Delivery | undefined, quorum: boolean): void {
  if (delivery === undefined) {
    channel.send({ name: 'basic.get-empty', fields: { clusterId: '' } });
    return;
  }
  const tag = channel.nextDeliveryTag();
  if (!f.noAck) channel.unacked.set(tag, delivery.queue, delivery.id);
  // RabbitMQ 3.10's quorum queues answer every get with the count, 0 on a first delivery.
  const message = quorum ? withDeliveryCount(delivery.message, delivery.deliveryCount) : delivery.message;
  const method = {
    name: 'basic.get-ok' as const,
    fields: {
      deliveryTag: tag,
      redelivered: delivery.redelivered,
      exchange: message.exchange,
      routingKey: message.routingKey,
      messageCount: delivery.remaining,
    },
  };
  channel.conn.sendContent(channel.number, method, toBasicProperties(message.properties), message.body);
}

const unknownTag = (deliveryTag: number): AmqpError =>
  channelError(ReplyCode.preconditionFailed, `unknown delivery tag ${deliveryTag}`);

/**
 * With `multiple`, RabbitMQ 3.10 settles up to the tag only if the tag itself is held: a tag below the
 * oldest held, above the newest, between two held or with nothing held is a 406 and settles nothing.
 * Tag 0 means every held delivery, also when none is (test/conformance/amqp/delivery-tags.test.ts).
 */
function checkMultiple(channel: AmqpChannel, deliveryTag: number): void {
  if (deliveryTag !== 0 && !channel.unacked.has(deliveryTag)) throw unknownTag(deliveryTag);
}

/** The deliveries a tag names: one, or with `multiple` every one up to it (0 = all). */
function takeTags(
  channel: AmqpChannel,
  deliveryTag: number,
  multiple: boolean,
): Array<{ queue: string; id: number }> {
  if (multiple) return channel.unacked.takeUpTo(deliveryTag);
  const queue = channel.unacked.take(deliveryTag);
  if (queue === undefined) throw unknownTag(deliveryTag);
  return [{ queue, id: channel.unacked.takenId }];
}

function settle(
  channel: AmqpChannel,
  deliveryTag: number,
  multiple: boolean,
  outcome: 'ack' | 'requeue' | 'drop',
): void {
  // The usual case, one delivery acked outside a transaction, takes no list and no closure.
  if (!multiple && outcome === 'ack' && channel.tx === undefined) {
    const queue = channel.unacked.take(deliveryTag);
    if (queue === undefined) throw unknownTag(deliveryTag);
    channel.core.ack(queue, channel.unacked.takenId);
    return;
  }
  // Checked when the method arrives, in a transaction too (a 406 then, not at commit).
  if (multiple) checkMultiple(channel, deliveryTag);
  const run = (): void => {
    const vhost = channel.core;
    for (const { queue, id } of takeTags(channel, deliveryTag, multiple)) {
      if (outcome === 'ack') vhost.ack(queue, id);
      else vhost.nack(queue, id, outcome === 'requeue');
    }
  };
  if (channel.tx !== undefined) channel.tx.push(run);
  else run();
}

function ack(channel: AmqpChannel, f: BasicAck): void {
  settle(channel, f.deliveryTag, f.multiple, 'ack');
}

function nack(channel: AmqpChannel, f: BasicNack): void {
  settle(channel, f.deliveryTag, f.multiple, f.requeue ? 'requeue' : 'drop');
}

function reject(channel: AmqpChannel, f: BasicReject): void {
  settle(channel, f.deliveryTag, false, f.requeue ? 'requeue' : 'drop');
}

/** Requeues every unacked delivery of the channel (RabbitMQ treats requeue=false the same way). */
/**
 * Requeues every unacked delivery of the channel. requeue=false (redeliver to the same consumer) is
 * not implemented by RabbitMQ: a 540 connection error "requeue=false", for recover-async as well.
 */
function recoverAll(channel: AmqpChannel, f: BasicRecover | BasicRecoverAsync): void {
  if (!f.requeue) throw connectionError(ReplyCode.notImplemented, 'requeue=false');
  const held = channel.unacked.takeAll();
  for (const { queue, id } of held) channel.core.nack(queue, id, true);
}

function recover(channel: AmqpChannel, f: BasicRecover): void {
  recoverAll(channel, f);
  channel.send({ name: 'basic.recover-ok', fields: {} });
}

export const basicHandlers: HandlerTable = {
  'basic.qos': qos,
  'basic.consume': consume,
  'basic.cancel': cancel,
  'basic.get': get,
  'basic.ack': ack,
  'basic.nack': nack,
  'basic.reject': reject,
  'basic.recover': recover,
  'basic.recover-async': recoverAll,
};
