/**
 * `StreamQueueMessage`, KubeMQ's first queue transaction: one message per stream. The client asks to
 * receive (with a visibility time and a wait time), gets one message, then settles it once — ack,
 * reject (back at the tail, its receive count up), resend to another queue, or send a modified
 * message instead — and the server ends the stream. Extending the visibility keeps the stream open;
 * a visibility that runs out is core's hold expiring (the message goes back at the tail) and ends the
 * stream with Error 129; a wait with no message ends it with Error 138. A client that leaves while
 * holding the message gives it back at the tail, counted, as KubeMQ does.
 */
import { randomUUID } from 'node:crypto';
import type { Delivery } from '../../core/types.js';
import { checkQueueName } from './channels.js';
import { asFailure, errorText, fail, KubemqFailure, Texts } from './errors.js';
import type { KubemqLimits } from './limits.js';
import {
  admit,
  checkQueueMessage,
  collect,
  prepare,
  publishToQueue,
  queueMessage,
  sendQueueMessage,
  settle,
  waitMs,
} from './queues.js';
import type { Caller } from './server.js';
import { SerialRequests, type Sink } from './sink.js';
import {
  type QueueMessage,
  type StreamQueueMessagesRequest,
  type StreamQueueMessagesResponse,
  StreamRequestType,
} from './types.js';

/** Requests a client may send ahead of the one being handled. */
const queuedRequestsMax = 64;

function visibilityMs(seconds: number, limits: KubemqLimits): number {
  if (seconds < 0 || seconds > limits.visibilitySecondsMax) fail(Texts.visibility);
  return (seconds === 0 ? limits.visibilitySecondsDefault : seconds) * 1000;
}

/** KubeMQ's checks of one request of the stream, in its order. */
function checkRequest(request: StreamQueueMessagesRequest, limits: KubemqLimits): void {
  if (request.ClientID === '') fail(Texts.clientIdEmpty);
  switch (request.StreamRequestTypeData) {
    case StreamRequestType.receive:
      checkQueueName(request.Channel);
      visibilityMs(request.VisibilitySeconds, limits);
      waitMs(request.WaitTimeSeconds, limits);
      return;
    case StreamRequestType.ack:
    case StreamRequestType.reject:
      if (BigInt(request.RefSequence) <= 0n) fail(Texts.ackSequence);
      return;
    case StreamRequestType.resend:
      checkQueueName(request.Channel);
      return;
    case StreamRequestType.modifyVisibility:
      visibilityMs(request.VisibilitySeconds, limits);
      return;
    case StreamRequestType.sendModified:
      if (request.ModifiedMessage === null) fail(Texts.invalidQueueMessage);
      checkQueueMessage(request.ModifiedMessage, limits);
      return;
    default:
      fail(Texts.streamRequestType);
  }
}

export class QueueTransaction {
  readonly #caller: Caller;
  readonly #sink: Sink<StreamQueueMessagesResponse>;
  #current: Delivery | undefined;
  #receiving = false;
  readonly #requests: SerialRequests<StreamQueueMessagesRequest>;

  constructor(caller: Caller, sink: Sink<StreamQueueMessagesResponse>) {
    this.#caller = caller;
    this.#sink = sink;
    this.#requests = new SerialRequests(
      sink,
      queuedRequestsMax,
      (request) => this.#handle(request),
      (request, err) => this.#reply(request, { error: errorText(err) }),
    );
    caller.holds();
    sink.onClose(() => this.#left());
  }

  /** Resolves once every request so far is handled. */
  idle(): Promise<void> {
    return this.#requests.idle();
  }

  /** Requests are handled one at a time, in order. */
  request(request: StreamQueueMessagesRequest): void {
    this.#requests.push(request);
  }

  async #handle(request: StreamQueueMessagesRequest): Promise<void> {
    if (request.RequestID === '') request.RequestID = randomUUID();
    checkRequest(request, this.#caller.server.limits);
    switch (request.StreamRequestTypeData) {
      case StreamRequestType.receive:
        return this.#receive(request);
      case StreamRequestType.ack:
        return this.#finish(request, Texts.noMessageToAck, (d) => this.#caller.core.ack(d.queue, d.id));
      case StreamRequestType.reject:
        return this.#finish(request, Texts.noMessageToReject, (d) =>
          this.#caller.core.requeue(d.queue, d.id, { atTail: true, counted: true }),
        );
      case StreamRequestType.modifyVisibility:
        this.#hold(visibilityMs(request.VisibilitySeconds, this.#caller.server.limits), request);
        this.#reply(request, {});
        return;
      case StreamRequestType.resend:
        return this.#resend(request);
      default:
        return this.#sendModified(request, request.ModifiedMessage!);
    }
  }

  async #receive(request: StreamQueueMessagesRequest): Promise<void> {
    const { limits } = this.#caller.server;
    if (this.#receiving || this.#current !== undefined) fail(Texts.alreadyReceiving);
    this.#caller.server.channels.queue(request.Channel);
    this.#receiving = true;
    const deadline = Date.now() + waitMs(request.WaitTimeSeconds, limits);
    for (let left = deadline - Date.now(); left > 0 && !this.#sink.closed; left = deadline - Date.now()) {
      const [delivery] = await collect(this.#caller, request.Channel, 1, left);
      if (delivery === undefined) break;
      if (!(await admit(this.#caller, delivery))) continue;
      this.#current = delivery;
      this.#reply(request, { message: queueMessage(delivery, request.Channel) });
      this.#hold(visibilityMs(request.VisibilitySeconds, limits), request);
      return;
    }
    this.#reply(request, { error: Texts.noNewMessage });
    this.#sink.end();
  }

  /** (Re)starts the visibility timer of the current message; running out ends the stream (129). */
  #hold(ms: number, request: StreamQueueMessagesRequest): void {
    const current = this.#current;
    if (current === undefined) return;
    this.#caller.core
      .hold(current.queue, current.id, ms)
      .then((expired) => {
        if (!expired || this.#current !== current) return;
        this.#current = undefined;
        this.#reply(request, { error: Texts.visibilityExpired });
        this.#sink.end();
      })
      .catch((err: unknown) => this.#sink.end(asFailure(err)));
  }

  /** Settles the current message with `action`, answers, and ends the stream. Ack and reject name it. */
  #finish(request: StreamQueueMessagesRequest, none: string, action: (d: Delivery) => void): void {
    const current = this.#current;
    if (current === undefined) fail(none);
    const named =
      request.StreamRequestTypeData === StreamRequestType.ack ||
      request.StreamRequestTypeData === StreamRequestType.reject;
    if (named && String(request.RefSequence) !== String(current.id)) fail(Texts.ackSequence);
    this.#current = undefined;
    settle(this.#caller, () => action(current));
    this.#reply(request, {});
    this.#sink.end();
  }

  async #resend(request: StreamQueueMessagesRequest): Promise<void> {
    const current = this.#current;
    if (current === undefined) fail(Texts.noMessageToSend);
    const copy: QueueMessage = { ...queueMessage(current, request.Channel), Attributes: null };
    try {
      const prepared = prepare(copy, this.#caller.server.core.clock.now());
      await publishToQueue(this.#caller, request.Channel, prepared.input);
    } catch {
      fail(Texts.sendFailed);
    }
    this.#finish(request, Texts.noMessageToSend, (d) => this.#caller.core.ack(d.queue, d.id));
  }

  async #sendModified(request: StreamQueueMessagesRequest, modified: QueueMessage): Promise<void> {
    if (this.#current === undefined) fail(Texts.noMessageToAck);
    const sent = await sendQueueMessage(this.#caller, modified);
    if (sent.IsError) fail(Texts.sendFailed);
    this.#finish(request, Texts.noMessageToAck, (d) => this.#caller.core.ack(d.queue, d.id));
  }

  #reply(request: StreamQueueMessagesRequest, with_: { message?: QueueMessage; error?: string }): void {
    if (this.#sink.closed) return;
    this.#sink.write({
      RequestID: request.RequestID,
      StreamRequestTypeData: request.StreamRequestTypeData,
      Message: with_.message ?? null,
      IsError: with_.error !== undefined,
      Error: with_.error ?? '',
    });
  }

  /** The stream ended: a message still held goes back at the tail, counted. */
  #left(): void {
    const current = this.#current;
    this.#current = undefined;
    if (current !== undefined) {
      settle(this.#caller, () =>
        this.#caller.core.requeue(current.queue, current.id, { atTail: true, counted: true }),
      );
    }
    this.#caller.close();
  }
}
