/**
 * Request / reply with a timeout, for every protocol alike (KubeMQ commands and queries, AMQP RPC in
 * the direct reply-to style). A request is an ordinary message routed through an exchange, carrying a
 * reply address `amq.reply-to.<token>` in `replyTo`; no queue exists for it. A reply is a publish to
 * the default exchange with that address as routing key, from any protocol: the first one reaches the
 * waiting requester, later ones and ones after the timeout are dropped (routed nowhere).
 *
 * One `Requests` per vhost; its timers run on its own executor.
 */
import { randomBytes } from 'node:crypto';
import { brokerError, ErrorCode } from '../shared/errors.js';
import type { PublishInput } from './api.js';
import type { Executor, Timer } from './exec/executor.js';
import { durationMsMax } from './queues/options.js';
import type { Message, PublishResult } from './types.js';

/** Reply addresses start with this; `amq.` names cannot be declared, so no queue shadows one. */
export const replyAddressPrefix = 'amq.reply-to.';

/** Requests waiting for a reply in one vhost; more are refused (resourceExhausted). */
export const requestsPendingMax = 100_000;

export function isReplyAddress(routingKey: string): boolean {
  return routingKey.startsWith(replyAddressPrefix);
}

interface Pending {
  readonly timer: Timer;
  readonly resolve: (message: Message | undefined) => void;
}

export interface OpenRequest {
  readonly replyTo: string;
  readonly reply: Promise<Message | undefined>;
  /** Nobody will answer (the request reached no one): resolve undefined now. */
  cancel(): void;
}

const settled: Promise<void> = Promise.resolve();

export class Requests {
  readonly #exec: Executor;
  readonly #messageBytesMax: number;
  readonly #pending = new Map<string, Pending>();
  #next = 0;
  #closed = false;

  constructor(exec: Executor, messageBytesMax: number) {
    this.#exec = exec;
    this.#messageBytesMax = messageBytesMax;
  }

  get pending(): number {
    return this.#pending.size;
  }

  /** A fresh reply address, answered within `timeoutMs` or resolved undefined. */
  open(timeoutMs: number): OpenRequest {
    if (!Number.isSafeInteger(timeoutMs) || timeoutMs <= 0 || timeoutMs > durationMsMax) {
      throw brokerError(ErrorCode.invalidArgument, `A request timeout of ${timeoutMs} ms`);
    }
    if (this.#closed) throw brokerError(ErrorCode.invalidState, 'The broker is closing');
    if (this.#pending.size >= requestsPendingMax) {
      throw brokerError(
        ErrorCode.resourceExhausted,
        `${requestsPendingMax} requests are waiting for replies`,
      );
    }
    // The counter makes addresses unique; the random part makes them unguessable by other callers.
    const token = `${(++this.#next).toString(36)}.${randomBytes(12).toString('base64url')}`;
    const replyTo = replyAddressPrefix + token;
    const reply = new Promise<Message | undefined>((resolve) => {
      const timer = this.#exec.after(timeoutMs, () => this.#finish(replyTo, undefined));
      this.#pending.set(replyTo, { timer, resolve });
    });
    return { replyTo, reply, cancel: () => this.#finish(replyTo, undefined) };
  }

  /** A publish to `replyTo` on the default exchange: reaches the requester if it still waits. */
  reply(replyTo: string, input: PublishInput): PublishResult {
    if (input.body.length > this.#messageBytesMax) {
      throw brokerError(
        ErrorCode.preconditionFailed,
        `Message of ${input.body.length} bytes exceeds the ${this.#messageBytesMax}-byte limit`,
      );
    }
    const message: Message = { exchange: '', routingKey: replyTo, ...input };
    const reached = this.#finish(replyTo, message);
    return { routedCount: reached ? 1 : 0, confirmed: settled };
  }

  /** Every waiting requester gets no reply. */
  close(): void {
    this.#closed = true;
    for (const replyTo of [...this.#pending.keys()]) this.#finish(replyTo, undefined);
  }

  #finish(replyTo: string, message: Message | undefined): boolean {
    const pending = this.#pending.get(replyTo);
    if (pending === undefined) return false;
    this.#pending.delete(replyTo);
    pending.timer.cancel();
    pending.resolve(message);
    return true;
  }
}
