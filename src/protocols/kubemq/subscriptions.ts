/**
 * The core queue behind a subscription to events, commands or queries. A subscriber without a group
 * gets a queue of its own (exclusive to its call, gone with it); the members of a group share one
 * queue per group and channel, so each message reaches one member (KubeMQ's NATS queue groups).
 * Either way the queue is bound to the pattern's exchange and bounded: past `eventsBacklogMax` waiting
 * messages the oldest are dropped.
 */
import { createHash } from 'node:crypto';
import type { QueueOptions } from '../../core/types.js';
import { corePattern } from './channels.js';
import type { Caller } from './server.js';

/** Longest group queue name before it is shortened to a hash. */
const queueNameCharsMax = 200;

function groupQueueName(kind: string, group: string, channel: string): string {
  // The group is encoded, so its first `/` cannot appear inside it: the name splits one way only.
  const name = `kubemq-${kind}-group/${encodeURIComponent(group)}/${channel}`;
  if (name.length <= queueNameCharsMax) return name;
  return `kubemq-${kind}-group/${createHash('sha256').update(name).digest('hex')}`;
}

/**
 * Declares and binds the queue a subscriber consumes; returns its name. The subscriber's user must
 * be allowed to read what the exchange routes on its channel (as an AMQP binding of its own would
 * be); the queue is the front end's own, so no permission on its generated name is asked for.
 */
export function subscriptionQueue(
  caller: Caller,
  kind: 'events' | 'commands' | 'queries',
  exchange: string,
  channel: string,
  group: string,
): string {
  caller.holds();
  const bounded: QueueOptions = {
    durable: false,
    autoDelete: true,
    lengthMax: caller.server.limits.eventsBacklogMax,
    overflow: 'drop-head',
  };
  const options = group === '' ? { ...bounded, exclusiveOwner: caller.connectionId } : bounded;
  const name = group === '' ? '' : groupQueueName(kind, group, channel);
  const pattern = corePattern(channel);
  caller.core.checkSubscription(exchange, pattern);
  const declared = caller.plumbing.declareQueue(name, options).name;
  caller.plumbing.bindQueue(declared, exchange, pattern);
  return declared;
}
