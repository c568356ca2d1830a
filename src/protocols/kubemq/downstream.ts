/**
 * `QueuesDownstream` and `QueuesUpstream`, KubeMQ's streamed queue API. Downstream: a `Get` takes up
 * to `MaxItems` messages within `WaitTimeout` ms into a transaction (acked at once with `AutoAck`);
 * later requests name the transaction and ack, nack (back at the tail, receive count up) or re-queue
 * (to another queue, marked re-routed) all of it or a range of sequences, list the active sequences or
 * ask its status. A transaction completes when nothing is left in it; as in KubeMQ, only failures of
 * those settlements are answered. Upstream: each request's messages are sent together and answered
 * with one result each, once durable, in request order.
 */
import { randomUUID } from 'node:crypto';
import type { Delivery } from '../../core/types.js';
import { checkQueueName } from './channels.js';
import { errorText, fail, KubemqFailure, Texts } from './errors.js';
import {
  admit,
  collect,
  oversizedBatch,
  prepare,
  publishToQueue,
  queueMessage,
  sendQueueMessages,
  settle,
} from './queues.js';
import type { Caller } from './server.js';
import { SerialRequests, type Sink } from './sink.js';
import {
  DownstreamType,
  type QueuesDownstreamRequest,
  type QueuesDownstreamResponse,
  type QueuesUpstreamRequest,
  type QueuesUpstreamResponse,
} from './types.js';

/** KubeMQ's floor on a get's wait. */
const waitMsMin = 1000;
/** Requests a client may send ahead of the one being handled. */
const queuedRequestsMax = 1024;

interface Transaction {
  readonly id: string;
  readonly channel: string;
  /** Unsettled deliveries by sequence (their delivery id). */
  readonly held: Map<string, Delivery>;
}

export class Downstream {
  readonly #caller: Caller;
  readonly #sink: Sink<QueuesDownstreamResponse>;
  readonly #transactions = new Map<string, Transaction>();
  readonly #requests: SerialRequests<QueuesDownstreamRequest>;

  constructor(caller: Caller, sink: Sink<QueuesDownstreamResponse>) {
    this.#caller = caller;
    this.#sink = sink;
    this.#requests = new SerialRequests(
      sink,
      queuedRequestsMax,
      (request) => this.#handle(request),
      (request, err) =>
        this.#reply(request, request.RefTransactionId, { IsError: true, Error: errorText(err) }),
    );
    caller.holds();
    // Whatever is still held goes back (counted) with the call's release.
    sink.onClose(() => caller.close());
  }

  /** Resolves once every request so far is handled. */
  idle(): Promise<void> {
    return this.#requests.idle();
  }

  request(request: QueuesDownstreamRequest): void {
    this.#requests.push(request);
  }

  async #handle(request: QueuesDownstreamRequest): Promise<void> {
    if (request.RequestTypeData === DownstreamType.get) return this.#get(request);
    const t = this.#transactions.get(request.RefTransactionId);
    if (t === undefined) fail('transaction is completed or transaction id not found');
    const range = request.SequenceRange.map(String);
    switch (request.RequestTypeData) {
      case DownstreamType.ackAll:
      case DownstreamType.ackRange:
        return this.#settle(t, request, range, (d) => this.#caller.core.ack(d.queue, d.id));
      case DownstreamType.nackAll:
      case DownstreamType.nackRange:
        return this.#settle(t, request, range, (d) =>
          this.#caller.core.requeue(d.queue, d.id, { atTail: true, counted: true }),
        );
      case DownstreamType.requeueAll:
      case DownstreamType.requeueRange:
        return this.#requeue(t, request, range);
      case DownstreamType.activeOffsets:
        this.#reply(request, t.id, { ActiveOffsets: [...t.held.keys()] });
        return;
      case DownstreamType.transactionStatus:
        this.#reply(request, t.id, { TransactionComplete: t.held.size === 0 });
        return;
      case DownstreamType.closeByClient:
        return this.#settle(t, request, [], (d) =>
          this.#caller.core.requeue(d.queue, d.id, { atTail: false, counted: true }),
        );
      default:
        fail('request unknown');
    }
  }

  async #get(request: QueuesDownstreamRequest): Promise<void> {
    const { limits } = this.#caller.server;
    if (request.ClientID === '') fail(Texts.clientIdEmpty);
    checkQueueName(request.Channel);
    if (this.#transactions.size >= limits.transactionsMax)
      fail(`more than ${limits.transactionsMax} open transactions`);
    const max =
      request.MaxItems <= 0
        ? limits.downstreamItemsMax
        : Math.min(request.MaxItems, limits.downstreamItemsMax);
    const ms = Math.min(Math.max(request.WaitTimeout, waitMsMin), limits.waitSecondsMax * 1000);
    this.#caller.server.channels.queue(request.Channel);
    const t: Transaction = { id: randomUUID(), channel: request.Channel, held: new Map() };
    const messages = [];
    for (const delivery of await collect(this.#caller, request.Channel, max, ms)) {
      if (!(await admit(this.#caller, delivery))) continue;
      t.held.set(String(delivery.id), delivery);
      messages.push(queueMessage(delivery, request.Channel));
    }
    if (request.AutoAck)
      for (const d of t.held.values()) settle(this.#caller, () => this.#caller.core.ack(d.queue, d.id));
    const complete = request.AutoAck || t.held.size === 0;
    if (!complete) this.#transactions.set(t.id, t);
    this.#reply(request, t.id, { Messages: messages, TransactionComplete: complete });
  }

  /** Settles the named sequences (all when `range` is empty) with `action`; an unknown one fails first. */
  #settle(
    t: Transaction,
    request: QueuesDownstreamRequest,
    range: string[],
    action: (d: Delivery) => void,
  ): void {
    const chosen = this.#chosen(t, request, range);
    for (const [seq, delivery] of chosen) {
      t.held.delete(seq);
      settle(this.#caller, () => action(delivery));
    }
    if (t.held.size === 0) this.#transactions.delete(t.id);
  }

  async #requeue(t: Transaction, request: QueuesDownstreamRequest, range: string[]): Promise<void> {
    if (request.ReQueueChannel === '') fail('cannot requeue messages with empty channel destination');
    checkQueueName(request.ReQueueChannel);
    const chosen = this.#chosen(t, request, range);
    for (const [seq, delivery] of chosen) {
      const copy = { ...queueMessage(delivery, request.ReQueueChannel), Attributes: null };
      const prepared = prepare(copy, this.#caller.server.core.clock.now(), { reroutedFrom: t.channel });
      await publishToQueue(this.#caller, request.ReQueueChannel, prepared.input);
      t.held.delete(seq);
      settle(this.#caller, () => this.#caller.core.ack(delivery.queue, delivery.id));
    }
    if (t.held.size === 0) this.#transactions.delete(t.id);
  }

  #chosen(t: Transaction, request: QueuesDownstreamRequest, range: string[]): Array<[string, Delivery]> {
    const ranged =
      request.RequestTypeData === DownstreamType.ackRange ||
      request.RequestTypeData === DownstreamType.nackRange ||
      request.RequestTypeData === DownstreamType.requeueRange;
    if (!ranged) return [...t.held.entries()];
    if (range.length === 0) fail('cannot settle an empty list of offsets');
    return range.map((seq) => {
      const delivery = t.held.get(seq);
      if (delivery === undefined) fail(`invalid sequence id ${seq}`);
      return [seq, delivery];
    });
  }

  #reply(
    request: QueuesDownstreamRequest,
    transactionId: string,
    fields: Partial<QueuesDownstreamResponse>,
  ): void {
    if (this.#sink.closed) return;
    this.#sink.write({
      TransactionId: transactionId,
      RefRequestId: request.RequestID,
      RequestTypeData: request.RequestTypeData,
      Messages: [],
      ActiveOffsets: [],
      IsError: false,
      Error: '',
      TransactionComplete: false,
      Metadata: {},
      ...fields,
    });
  }
}

/** Answers each request once its messages are durable, in the order the requests came. */
export class Upstream {
  readonly #caller: Caller;
  readonly #sink: Sink<QueuesUpstreamResponse>;
  #answered: Promise<void> = Promise.resolve();

  constructor(caller: Caller, sink: Sink<QueuesUpstreamResponse>) {
    this.#caller = caller;
    this.#sink = sink;
    sink.onClose(() => caller.close());
  }

  /**
   * Sends the request's messages; resolves once it is answered. A request is a batch send: more than
   * `batchMessagesMax` messages is refused whole, as SendQueueMessagesBatch refuses them.
   */
  request(request: QueuesUpstreamRequest): Promise<void> {
    const count = request.Messages.length;
    const refusal = count === 0 ? 'no messages to send' : oversizedBatch(this.#caller, count);
    const results =
      refusal !== undefined
        ? Promise.resolve(undefined)
        : sendQueueMessages(this.#caller, request.Messages).catch(() => undefined);
    const previous = this.#answered;
    this.#answered = (async () => {
      const sent = await results;
      await previous;
      if (this.#sink.closed) return;
      this.#sink.write({
        RefRequestID: request.RequestID,
        Results: sent ?? [],
        IsError: sent === undefined,
        Error: sent === undefined ? (refusal ?? 'messages not sent') : '',
      });
    })();
    return this.#answered;
  }
}
