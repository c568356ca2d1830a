/**
 * Queues: a channel is the durable core queue of that name (an AMQP queue), messages are persistent
 * and a send is confirmed once they are durable. KubeMQ's per-message policy maps onto core: the
 * delay is core's delayed delivery (`x-delay`), the expiry a per-message TTL counted from the end of
 * the delay, and `MaxReceiveCount` / `MaxReceiveQueue` ride in headers and are applied as a message
 * is received (./policy.ts). Errors of a send or receive come back in `IsError` / `Error`, as KubeMQ's.
 */
import { randomUUID } from 'node:crypto';
import { setImmediate as setImmediatePromise } from 'node:timers/promises';
import { status } from '@grpc/grpc-js';
import type { PublishInput } from '../../core/api.js';
import { type Consumer, type Delivery, headerList, headerTable } from '../../core/types.js';
import { checkQueueName } from './channels.js';
import { errorText, fail, KubemqFailure, Texts } from './errors.js';
import type { KubemqLimits } from './limits.js';
import { Header, headersOf, integer, msToNs, propertiesOf, tagsOf, text } from './mapping.js';
import type { Caller } from './server.js';
import type {
  AckAllQueueMessagesRequest,
  AckAllQueueMessagesResponse,
  QueueMessage,
  QueueMessagePolicy,
  QueueMessagesBatchRequest,
  QueueMessagesBatchResponse,
  ReceiveQueueMessagesRequest,
  ReceiveQueueMessagesResponse,
  SendQueueMessageResult,
} from './types.js';

const noPolicy: QueueMessagePolicy = {
  ExpirationSeconds: 0,
  DelaySeconds: 0,
  MaxReceiveCount: 0,
  MaxReceiveQueue: '',
};

/** KubeMQ's checks of a queue message and its policy (101, 120, 110, 133, 134, 135, 120). */
export function checkQueueMessage(message: QueueMessage, limits: KubemqLimits): void {
  if (message.ClientID === '') fail(Texts.clientIdEmpty);
  checkQueueName(message.Channel);
  if (message.Metadata === '' && message.Body.length === 0) fail(Texts.messageEmpty);
  if (message.Body.length > limits.messageBytesMax) {
    fail(`message body of ${message.Body.length} bytes exceeds ${limits.messageBytesMax}`);
  }
  const policy = message.Policy ?? noPolicy;
  const within = (value: number, max: number) => value >= 0 && value <= max;
  if (!within(policy.ExpirationSeconds, limits.expirationSecondsMax)) fail(Texts.expiration);
  if (!within(policy.MaxReceiveCount, limits.receiveCountMax)) fail(Texts.maxReceiveCount);
  if (!within(policy.DelaySeconds, limits.delaySecondsMax)) fail(Texts.delay);
  if (policy.MaxReceiveQueue !== '') checkQueueName(policy.MaxReceiveQueue);
}

export interface PreparedMessage {
  readonly id: string;
  readonly input: PublishInput;
  readonly expirationAtMs: number;
  readonly delayedToMs: number;
}

/**
 * A checked queue message as a persistent core message. Its policy goes into typed properties, never
 * headers: a header is the publisher's data, and one chosen over another protocol must not be able to
 * send a message to a queue of its choosing when it is dead-lettered.
 */
export function prepare(
  message: QueueMessage,
  nowMs: number,
  extra: { reroutedFrom?: string } = {},
): PreparedMessage {
  const id = message.MessageID === '' ? randomUUID() : message.MessageID;
  const policy = message.Policy ?? noPolicy;
  const headers = headersOf({ tags: message.Tags, metadata: message.Metadata, clientId: message.ClientID });
  const delayMs = policy.DelaySeconds * 1000;
  const properties = propertiesOf(id, headers, { persistent: true, nowMs });
  if (policy.MaxReceiveCount > 0) properties.receiveLimit = policy.MaxReceiveCount;
  if (policy.MaxReceiveQueue !== '') properties.receiveLimitQueue = policy.MaxReceiveQueue;
  if (extra.reroutedFrom !== undefined) properties.deadLetteredFrom = extra.reroutedFrom;
  if (delayMs > 0) properties.delayMs = delayMs;
  const expirationMs = policy.ExpirationSeconds * 1000;
  if (expirationMs > 0) properties.expirationMs = expirationMs;
  return {
    id,
    input: { body: message.Body, properties },
    expirationAtMs: expirationMs > 0 ? nowMs + delayMs + expirationMs : 0,
    delayedToMs: delayMs > 0 ? nowMs + delayMs : 0,
  };
}

/** Publishes to queue `channel` (declared when absent) and resolves once the message is durable. */
export async function publishToQueue(caller: Caller, channel: string, input: PublishInput): Promise<void> {
  const { channels } = caller.server;
  let declared = channels.queue(channel);
  let published = caller.core.publish('', channel, input);
  if (published.routedCount === 0) {
    // Deleted since we last saw it: declare it again, once.
    channels.forget(channel);
    declared = channels.queue(channel);
    published = caller.core.publish('', channel, input);
  }
  // A queue this send declared is a definition written in the background; the send result says the
  // message is kept, so it waits for the queue's definition too (a crash before it loses both).
  if (declared) await Promise.all([published.confirmed, caller.core.definitionsDurable()]);
  else await published.confirmed;
}

function result(id: string): SendQueueMessageResult {
  return { MessageID: id, SentAt: 0, ExpirationAt: 0, DelayedTo: 0, IsError: false, Error: '' };
}

/** Sends one message; every failure is reported in the result. */
export async function sendQueueMessage(
  caller: Caller,
  message: QueueMessage,
): Promise<SendQueueMessageResult> {
  const out = result(message.MessageID);
  try {
    checkQueueMessage(message, caller.server.limits);
    const nowMs = caller.server.core.clock.now();
    const prepared = prepare(message, nowMs);
    out.MessageID = prepared.id;
    await publishToQueue(caller, message.Channel, prepared.input);
    caller.sent('queues', message.Channel, message.ClientID);
    out.SentAt = msToNs(nowMs);
    out.ExpirationAt = msToNs(prepared.expirationAtMs);
    out.DelayedTo = msToNs(prepared.delayedToMs);
  } catch (err) {
    out.IsError = true;
    out.Error = errorText(err);
  }
  return out;
}

/**
 * Messages of one batch started in one turn of the event loop: a batch of 100,000 started them all in
 * one, and held every other client for 4.5–11.5 s. Between slices the loop serves the others; the
 * batch's messages still start in order and share their fsyncs.
 */
const batchSliceMessagesMax = 256;

/** Sends every message, a slice a turn, and waits for all: one result each, in order. */
export async function sendQueueMessages(
  caller: Caller,
  messages: readonly QueueMessage[],
): Promise<SendQueueMessageResult[]> {
  const sent: Promise<SendQueueMessageResult>[] = [];
  for (const [i, message] of messages.entries()) {
    if (i > 0 && i % batchSliceMessagesMax === 0) await setImmediatePromise();
    sent.push(sendQueueMessage(caller, message));
  }
  return Promise.all(sent);
}

/** Why a batch of `count` messages is refused whole (more than `batchMessagesMax`), or undefined. */
export function oversizedBatch(caller: Caller, count: number): string | undefined {
  const { batchMessagesMax } = caller.server.limits;
  return count > batchMessagesMax ? `batch of ${count} messages exceeds ${batchMessagesMax}` : undefined;
}

export async function sendQueueBatch(
  caller: Caller,
  batch: QueueMessagesBatchRequest,
): Promise<QueueMessagesBatchResponse> {
  if (batch.Messages.length === 0) throw new KubemqFailure('empty messages batch', status.UNKNOWN);
  const oversized = oversizedBatch(caller, batch.Messages.length);
  if (oversized !== undefined) fail(oversized);
  const results = await sendQueueMessages(caller, batch.Messages);
  return { BatchID: batch.BatchID, Results: results, HaveErrors: results.some((r) => r.IsError) };
}

/** A delivery of queue `channel` as KubeMQ's QueueMessage; its sequence is the delivery id. */
export function queueMessage(delivery: Delivery, channel: string): QueueMessage {
  const { message } = delivery;
  const headers = message.properties.headers;
  const sentMs = message.properties.timestamp ?? 0;
  const delayMs = message.properties.delayMs ?? 0;
  const expirationMs = message.properties.expirationMs ?? 0;
  const reroutedFrom = message.properties.deadLetteredFrom ?? '';
  return {
    MessageID: message.properties.messageId ?? '',
    ClientID: text(headers, Header.clientId),
    Channel: channel,
    Metadata: text(headers, Header.metadata),
    Body: message.body,
    Tags: tagsOf(headers),
    Attributes: {
      Timestamp: msToNs(sentMs),
      Sequence: delivery.id,
      MD5OfBody: '',
      ReceiveCount: delivery.deliveryCount + 1,
      ReRouted: reroutedFrom !== '',
      ReRoutedFromQueue: reroutedFrom,
      // The queue's own expiry: a publisher's timestamp (AMQP's is any time it likes, or none) is not
      // when the copy joined the queue, which is where its time to live counts from.
      ExpirationAt: delivery.expiresAtMs === undefined ? 0 : msToNs(delivery.expiresAtMs),
      DelayedTo: delayMs > 0 ? msToNs(sentMs + delayMs) : 0,
    },
    Policy: {
      ExpirationSeconds: Math.round(expirationMs / 1000),
      DelaySeconds: Math.round(delayMs / 1000),
      MaxReceiveCount: message.properties.receiveLimit ?? 0,
      MaxReceiveQueue: message.properties.receiveLimitQueue ?? '',
    },
    Topic: '',
    Partition: 0,
    PartitionKey: '',
  };
}

/** `WaitTimeSeconds` checked (136) and defaulted (0 → KubeMQ's 1 s), in ms. */
export function waitMs(seconds: number, limits: KubemqLimits): number {
  if (seconds < 0 || seconds > limits.waitSecondsMax) fail(Texts.waitTimeout);
  return (seconds === 0 ? limits.waitSecondsDefault : seconds) * 1000;
}

/**
 * Takes up to `max` deliveries of `queue` within `ms`: those ready now and those arriving meanwhile
 * (a long poll). They stay unacked, held by the caller; the caller's end stops the wait.
 */
export function collect(caller: Caller, queue: string, max: number, ms: number): Promise<Delivery[]> {
  caller.holds();
  const waiting = caller.subscribe('queues', queue);
  return new Promise((resolve) => {
    const got: Delivery[] = [];
    let done = false;
    let consumer: Consumer | undefined;
    const finish = () => {
      if (done) return;
      done = true;
      waiting();
      clearTimeout(timer);
      consumer?.cancel();
      resolve(got);
    };
    const timer = setTimeout(finish, ms);
    consumer = caller.core.consume(queue, {
      tag: `collect-${randomUUID()}`,
      owner: 'collect',
      prefetch: max,
      deliver: (delivery) => {
        got.push(delivery);
        if (got.length >= max) finish();
      },
      cancelled: finish,
    });
    caller.onClose(finish);
  });
}

/** Settles a delivery unless the call ended first (its release already gave the delivery back). */
export function settle(caller: Caller, action: () => void): void {
  if (caller.closed) return;
  try {
    action();
  } catch (err) {
    caller.server.logger.debug({ err }, 'kubemq: a delivery was settled after it went back');
  }
}

function checkReceive(request: ReceiveQueueMessagesRequest, limits: KubemqLimits): number {
  if (request.ClientID === '') fail(Texts.clientIdEmpty);
  checkQueueName(request.Channel);
  const max = request.MaxNumberOfMessages;
  if (max < 1 || max > limits.receiveMessagesMax) fail(Texts.maxMessages);
  return waitMs(request.WaitTimeSeconds, limits);
}

/**
 * Pull (auto-ack: at most once to the application, as KubeMQ) or peek (the messages are shown and go
 * back in place, not counted as received). Waits up to the wait time for `MaxNumberOfMessages`.
 */
export async function receiveQueueMessages(
  caller: Caller,
  request: ReceiveQueueMessagesRequest,
): Promise<ReceiveQueueMessagesResponse> {
  const response: ReceiveQueueMessagesResponse = {
    RequestID: request.RequestID === '' ? randomUUID() : request.RequestID,
    Messages: [],
    MessagesReceived: 0,
    MessagesExpired: 0,
    IsPeak: request.IsPeak,
    IsError: false,
    Error: '',
  };
  try {
    const ms = checkReceive(request, caller.server.limits);
    caller.server.channels.queue(request.Channel);
    const deliveries = await collect(caller, request.Channel, request.MaxNumberOfMessages, ms);
    for (const delivery of deliveries) {
      if (!(await admit(caller, delivery))) continue;
      response.Messages.push(queueMessage(delivery, request.Channel));
      const { queue, id } = delivery;
      if (request.IsPeak)
        settle(caller, () => caller.core.requeue(queue, id, { atTail: false, counted: false }));
      else settle(caller, () => caller.core.ack(queue, id));
    }
    response.MessagesReceived = response.Messages.length;
  } catch (err) {
    response.IsError = true;
    response.Error = errorText(err);
  }
  return response;
}

/**
 * Applies a received message's `MaxReceiveCount` (0: the server's maximum): past it the message goes
 * to its `MaxReceiveQueue` marked re-routed, or is dropped without one. True when it may be handed out.
 */
export async function admit(caller: Caller, delivery: Delivery): Promise<boolean> {
  const { properties } = delivery.message;
  const max = properties.receiveLimit ?? caller.server.limits.receiveCountMax;
  if (delivery.deliveryCount + 1 <= max) return true;
  const target = properties.receiveLimitQueue;
  if (target !== undefined) await publishToQueue(caller, target, deadLetter(delivery));
  settle(caller, () => caller.core.ack(delivery.queue, delivery.id));
  return false;
}

/** The copy a dead-letter queue gets: re-routed from its queue, its receive policy cleared. */
function deadLetter(delivery: Delivery): PublishInput {
  const { receiveLimit, receiveLimitQueue, ...kept } = delivery.message.properties;
  return { body: delivery.message.body, properties: { ...kept, deadLetteredFrom: delivery.queue } };
}

/** Acks every message that is or becomes ready within the wait time; answers with the count. */
export async function ackAllQueueMessages(
  caller: Caller,
  request: AckAllQueueMessagesRequest,
): Promise<AckAllQueueMessagesResponse> {
  const response: AckAllQueueMessagesResponse = {
    RequestID: request.RequestID === '' ? randomUUID() : request.RequestID,
    AffectedMessages: 0,
    IsError: false,
    Error: '',
  };
  try {
    if (request.ClientID === '') fail(Texts.clientIdEmpty);
    checkQueueName(request.Channel);
    const ms = waitMs(request.WaitTimeSeconds, caller.server.limits);
    caller.server.channels.queue(request.Channel);
    response.AffectedMessages = await drain(caller, request.Channel, ms);
  } catch (err) {
    response.IsError = true;
    response.Error = errorText(err);
  }
  return response;
}

function drain(caller: Caller, queue: string, ms: number): Promise<number> {
  caller.holds();
  return new Promise((resolve) => {
    let count = 0;
    const consumer = caller.core.consume(queue, {
      tag: `ack-all-${randomUUID()}`,
      owner: 'ack-all',
      noAck: true,
      deliver: () => {
        count++;
      },
    });
    const timer = setTimeout(() => {
      consumer.cancel();
      resolve(count);
    }, ms);
    caller.onClose(() => {
      clearTimeout(timer);
      resolve(count);
    });
  });
}
