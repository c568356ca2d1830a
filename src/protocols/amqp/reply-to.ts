/**
 * Direct reply-to (RabbitMQ `amq.rabbitmq.reply-to`): no queue exists. A channel consuming the
 * pseudo-queue gets a token; its requests carry `reply_to = amq.rabbitmq.reply-to.<token>`, and a
 * publish to the default exchange with that routing key goes straight to the channel's consumer.
 */
import { randomBytes } from 'node:crypto';
import type { Message } from '../../core/types.js';

export const replyToQueue = 'amq.rabbitmq.reply-to';
export const replyToPrefix = `${replyToQueue}.`;

export type ReplyTarget = (message: Message) => void;

export class ReplyToRegistry {
  readonly #targets = new Map<string, ReplyTarget>();

  register(target: ReplyTarget): string {
    const token = randomBytes(18).toString('base64url');
    this.#targets.set(token, target);
    return token;
  }

  unregister(token: string): void {
    this.#targets.delete(token);
  }

  /** Delivers to the channel named by `routingKey`; false when no such channel is consuming. */
  route(routingKey: string, message: Message): boolean {
    const target = this.#targets.get(routingKey.slice(replyToPrefix.length));
    if (target === undefined) return false;
    target(message);
    return true;
  }
}
