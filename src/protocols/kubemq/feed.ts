/**
 * A subscription fed from a core queue (events, commands, queries): deliveries become wire items on a
 * sink under flow control. As the MQTT front end does for QoS 0, a message that finds the queue empty
 * and the sink free goes straight out (`offer`); otherwise it waits in the queue, delivered within a
 * window of `deliveryWindow` unacked items, acked once written — and held unacked while the sink is
 * congested, so a slow subscriber's backlog stays in its bounded core queue.
 */
import type { Message } from '../../core/types.js';
import { matches, needsCheck } from './channels.js';
import { KubemqFailure } from './errors.js';
import type { Caller } from './server.js';
import type { Encoded, Sink } from './sink.js';

export interface FeedOptions<T> {
  readonly caller: Caller;
  readonly queue: string;
  /** The KubeMQ subscription channel, wildcards and all; core's binding may over-match it. */
  readonly pattern: string;
  readonly sink: Sink<T>;
  /** Must not depend on the subscription: one message is converted once for all feeds (`wireOf`). */
  readonly convert: (message: Message) => T;
}

/** The last message put in wire form, by which conversion and encoder: a fan-out routes one message object to every queue in a row. */
const last: { message?: Message; convert?: unknown; encode?: unknown; wire?: Encoded } = {};

function wireOf<T>(message: Message, convert: (message: Message) => T, sink: Sink<T>): Encoded {
  if (last.message === message && last.convert === convert && last.encode === sink.encode) return last.wire!;
  const wire = sink.encode(convert(message));
  last.message = message;
  last.convert = convert;
  last.encode = sink.encode;
  last.wire = wire;
  return wire;
}

export function startFeed<T>(options: FeedOptions<T>): void {
  const { caller, queue, sink, pattern, convert } = options;
  // The queue is the front end's own; the subscription was decided on `caller.core` (./subscriptions.ts).
  const core = caller.plumbing;
  const check = needsCheck(pattern);
  const wanted = (message: Message) => !check || matches(pattern, message.routingKey);
  const heldBack: number[] = [];
  const consumer = core.consume(queue, {
    tag: `feed-${caller.connectionId}`,
    owner: 'feed',
    prefetch: caller.server.limits.deliveryWindow,
    offer: (message) => {
      if (sink.closed || sink.congested()) return false;
      if (wanted(message)) sink.write(wireOf(message, convert, sink));
      return true;
    },
    deliver: (delivery) => {
      // Left unacked: the call's release hands it back to the queue (another group member).
      if (sink.closed) return;
      if (wanted(delivery.message)) sink.write(wireOf(delivery.message, convert, sink));
      if (sink.congested()) heldBack.push(delivery.id);
      else core.ack(queue, delivery.id);
    },
    cancelled: (reason) => sink.end(new KubemqFailure(reason)),
  });
  sink.onDrain(() => {
    for (const id of heldBack.splice(0)) core.ack(queue, id);
  });
  sink.onClose(() => {
    consumer.cancel();
    caller.close();
  });
}
