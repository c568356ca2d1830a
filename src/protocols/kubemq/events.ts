/**
 * Events: at-most-once pub/sub. A send is a transient publish to `amq.topic` with the channel as
 * routing key, so MQTT subscribers of `a/b` and AMQP queues bound with `a.b` get KubeMQ events on
 * `a.b`, and KubeMQ subscribers get theirs; a subscription is a bounded core queue bound there
 * (./subscriptions.ts) fed to the client (./feed.ts). `Sent: true` means published, as in KubeMQ.
 */
import { randomUUID } from 'node:crypto';
import type { Message } from '../../core/types.js';
import { checkChannel } from './channels.js';
import { fail, Texts } from './errors.js';
import { startFeed } from './feed.js';
import { Header, headersOf, propertiesOf, tagsOfProperties, text } from './mapping.js';
import type { Caller } from './server.js';
import type { Sink } from './sink.js';
import { subscriptionQueue } from './subscriptions.js';
import type { Event, EventReceive, Result, Subscribe } from './types.js';

export const eventsExchange = 'amq.topic';

/** KubeMQ's checks of an event, in its order (101, 102, 119, 108, 107, 110). */
export function checkEvent(event: Event, bytesMax: number): void {
  if (event.ClientID === '') fail(Texts.clientIdEmpty);
  checkChannel(event.Channel, { wildcards: false });
  if (event.Metadata === '' && event.Body.length === 0) fail(Texts.messageEmpty);
  if (event.Body.length > bytesMax) fail(`message body of ${event.Body.length} bytes exceeds ${bytesMax}`);
}

export function eventInput(event: Event, persistent: boolean, nowMs: number) {
  const id = event.EventID === '' ? randomUUID() : event.EventID;
  const headers = headersOf({ tags: event.Tags, metadata: event.Metadata, clientId: event.ClientID });
  return { id, input: { body: event.Body, properties: propertiesOf(id, headers, { persistent, nowMs }) } };
}

export function sendEvent(caller: Caller, event: Event): Result {
  checkEvent(event, caller.server.limits.messageBytesMax);
  const { id, input } = eventInput(event, false, caller.server.core.clock.now());
  caller.core.publish(eventsExchange, event.Channel, input);
  caller.sent('events', event.Channel, event.ClientID);
  return { EventID: id, Sent: true, Error: '' };
}

/** Where an event was read: its channel, and for the events store its append time and sequence. */
export interface Position {
  readonly channel: string;
  readonly timestampNs: string | number;
  readonly sequence: number;
}

/** A core message as KubeMQ's `EventReceive`; plain events carry no timestamp or sequence (both 0). */
export function eventReceive(message: Message, at: Position): EventReceive {
  const headers = message.properties.headers;
  return {
    EventID: message.properties.messageId ?? '',
    Channel: at.channel,
    Metadata: text(headers, Header.metadata),
    Body: message.body,
    Timestamp: at.timestampNs,
    Sequence: at.sequence,
    Tags: tagsOfProperties(message.properties),
  };
}

/** KubeMQ's checks of an events subscription (101, 102, 119, 108, 118); wildcards are allowed. */
function checkSubscribe(request: Subscribe): void {
  if (request.ClientID === '') fail(Texts.clientIdEmpty);
  checkChannel(request.Channel, { wildcards: true });
  if (request.EventsStoreTypeData !== 0) fail(Texts.storeTypeOnEvents);
}

/** A plain event as delivered: its channel is its routing key; no timestamp, no sequence. */
const plainEvent = (message: Message) =>
  eventReceive(message, { channel: message.routingKey, timestampNs: 0, sequence: 0 });

export function subscribeEvents(caller: Caller, request: Subscribe, sink: Sink<EventReceive>): void {
  checkSubscribe(request);
  const queue = subscriptionQueue(caller, 'events', eventsExchange, request.Channel, request.Group);
  caller.subscribe('events', request.Channel, request.ClientID);
  startFeed({
    caller,
    queue,
    pattern: request.Channel,
    sink,
    convert: plainEvent,
  });
}
