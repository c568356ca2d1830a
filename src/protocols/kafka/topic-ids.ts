/**
 * Topic ids (KIP-516) are core's stream ids (src/core/logs/stream-ids.ts): made when the stream is
 * created, by whichever protocol, and stored with its definition, so a topic deleted and created again
 * under its name has a new id, and a request naming the old one finds no topic.
 */
import { zeroStreamId } from '../../core/logs/stream-ids.js';
import type { Scope } from './context.js';

/** Kafka's "no id" (`Uuid.ZERO_UUID`), answered where a topic has none to show. */
export const zeroTopicId = zeroStreamId;

/** The id of the topic named `topic`, or the zero id when there is no such topic. */
export function topicIdOf(ctx: Scope, topic: string): string {
  return ctx.client.stream(topic)?.id ?? zeroTopicId;
}

/** The topic an id names, or undefined when no topic of the vhost has it (core's index by id). */
export function topicNameOf(ctx: Scope, id: string): string | undefined {
  return ctx.client.streamNameOf(id);
}
