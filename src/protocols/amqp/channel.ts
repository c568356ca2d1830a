/**
 * One channel: content assembly (method + header + body frames, spec 4.2.6), delivery tags, consumers,
 * qos, confirms and transactions. Method handlers live in methods/, one file per class; a failing
 * handler closes this channel (soft error) or the connection (hard error) as RabbitMQ would.
 */
import type { CoreClient } from '../../core/api.js';
import { SharedCredit } from '../../core/credit.js';
import type { Consumer, CreditLimit, Delivery, Message, PublishOptions } from '../../core/types.js';
import type { Logger } from '../../shared/logger.js';
import type { Mutable } from '../../shared/types.js';
import type { IngressAccount } from '../ingress.js';
import { type DeliveryShape, RecentUtf8 } from './codec/deliver.js';
import type {
  BasicProperties,
  BasicPublish,
  InputFrame,
  Method,
  MethodName,
  PublishRecord,
} from './codec/index.js';
import { type ContentHeader, methodInfo, ReplyCode } from './codec/index.js';
import type { ConfirmTracker } from './confirms.js';
import { AmqpError, connectionError, toReply } from './errors.js';
import { encodedProperties, toBasicProperties, withDeliveryCount } from './properties.js';
import type { ListenerShared } from './session.js';
import { UnackedTags } from './unacked-tags.js';

const noBytes = new Uint8Array(0);

export type HandlerTable = {
  readonly [N in MethodName]?: (channel: AmqpChannel, fields: Extract<Method, { name: N }>['fields']) => void;
};

/**
 * The methods a channel dispatches to (./methods/index.ts builds them): one handler per method, and
 * basic.publish's two steps, which the channel calls itself around the content frames. The connection
 * hands them to each channel it opens, so this file imports no handler and the handlers import it.
 */
export interface ChannelMethods {
  readonly handlers: HandlerTable;
  /** basic.publish arrived: checked (it throws what the channel then fails with) before its content is read. */
  checkPublish(channel: AmqpChannel, fields: BasicPublish): void;
  /** Its content is whole: publish it. */
  publishContent(
    channel: AmqpChannel,
    fields: BasicPublish,
    properties: BasicProperties,
    body: Uint8Array,
  ): void;
}

/**
 * What a channel and its method handlers use of their connection. ./connection.ts's `AmqpConnection`
 * is one and creates the channels, so this file does not import it.
 */
export interface ChannelConnection {
  readonly id: string;
  readonly shared: ListenerShared;
  readonly log: Logger;
  readonly core: CoreClient | undefined;
  /** The logged-in user and its tags (an `impersonator` may publish with another `user_id`). */
  readonly user: string;
  readonly tags: readonly string[];
  readonly clientCapabilities: ReadonlySet<string>;
  /** This connection's share of the broker's ingress budget. */
  readonly account: IngressAccount;
  readonly channels: Pick<Map<number, unknown>, 'delete'>;
  publishOptions(mandatory: boolean): PublishOptions;
  /** A publish reached `queues` (publisher flow control). */
  fed(queues: Iterable<string>): void;
  sendMethod(channel: number, method: Method): void;
  sendContent(channel: number, method: Method, properties: BasicProperties, body: Uint8Array): void;
  /** basic.deliver encoded in place; false when the caller must use `sendContent`. */
  sendDelivery(
    channel: number,
    shape: DeliveryShape,
    deliveryTag: number,
    redelivered: boolean,
    body: Uint8Array,
  ): boolean;
  closeWith(replyCode: number, replyText: string, classId?: number, methodId?: number): void;
  /** Stops reading and processing frames until `resume` (an answer waits for a durable write). */
  pause(): void;
  resume(): void;
  /** Room to send, for consumers: none while the socket holds too much unsent. */
  readonly sendRoom: CreditLimit;
}

interface PendingContent {
  readonly fields: BasicPublish;
  header: ContentHeader | undefined;
  /** Body frames so far, once a body spans more than one (a body in one frame is copied at once). */
  chunks: Uint8Array[] | undefined;
  received: number;
}

export interface ChannelConsumer {
  readonly tag: string;
  /** The tag as UTF-8, encoded once for every delivery. */
  readonly tagBytes: Uint8Array;
  readonly queue: string;
  readonly noAck: boolean;
  /** Consuming from a quorum queue: a redelivery carries `x-delivery-count`, as RabbitMQ's does. */
  readonly quorum: boolean;
  consumer: Consumer | undefined;
}

/** Operations a transaction holds until tx.commit (RabbitMQ: publishes and settlements). */
export type TxOperation = () => Promise<void> | void;

const publishIds = methodInfo['basic.publish'];

export class AmqpChannel {
  readonly number: number;
  readonly conn: ChannelConnection;
  readonly #methods: ChannelMethods;
  /** The holder of this channel's unacked deliveries in core, within its connection. */
  readonly owner: string;
  state: 'open' | 'closing' | 'closed' = 'open';
  /** channel.open was answered. */
  opened = false;
  #content: PendingContent | undefined;
  #nextTag = 1;
  readonly #exchangeBytes = new RecentUtf8();
  readonly #shape: Mutable<DeliveryShape> = {
    consumerTag: noBytes,
    exchange: noBytes,
    routingKey: noBytes,
    properties: noBytes,
    bodyBytes: 0,
  };
  readonly #routingKeyBytes = new RecentUtf8();
  /** Delivery tag → queue delivery. */
  readonly unacked = new UnackedTags();
  readonly consumers = new Map<string, ChannelConsumer>();
  /** `basic.qos global=false`: the limit given to consumers created afterwards. */
  prefetch = 0;
  /** `basic.qos global=true`: one prefetch shared by the channel's consumers; 0 = none. */
  readonly credit = new SharedCredit();
  confirms: ConfirmTracker | undefined;
  tx: TxOperation[] | undefined;
  replyToken: string | undefined;
  /** The queue last declared on this channel: an empty queue name means it (spec queue.declare). */
  lastQueue = '';

  constructor(conn: ChannelConnection, number: number, methods: ChannelMethods) {
    this.conn = conn;
    this.number = number;
    this.#methods = methods;
    this.owner = String(number);
  }

  /** The connection's way into core; a channel exists only once the connection is open. */
  get core(): CoreClient {
    return this.conn.core!;
  }

  send(method: Method): void {
    this.conn.sendMethod(this.number, method);
  }

  /**
   * Sends `ok` once every definition written so far is durable: a durable queue, exchange or binding
   * a client was told of must be there after a crash (declares apply at once and are written in the
   * background). The connection reads nothing meanwhile, so what its later methods cause still
   * follows this answer; the wait is the definitions log's next fsync, none when nothing is pending.
   */
  answerOnceDefined(ok: Method, of: MethodName): void {
    this.answerAfter(this.core.definitionsDurable(), of, () => this.send(ok));
  }

  /**
   * Runs `answer` (method `of`'s handling) once `wait` resolves, reading nothing from the connection
   * meanwhile, so the answer keeps its place before what later methods cause. An error in either
   * fails `of` as a handler's throw would.
   */
  answerAfter(wait: Promise<void>, of: MethodName, answer: () => void): void {
    this.conn.pause();
    wait.then(
      () => {
        // Resumed even if the answer throws: a connection left paused would read nothing more, ever.
        try {
          if (this.state === 'open') answer();
        } catch (err) {
          this.fail(err, methodInfo[of]);
        } finally {
          this.conn.resume();
        }
      },
      (err: unknown) => {
        this.conn.resume();
        this.fail(err, methodInfo[of]);
      },
    );
  }

  nextDeliveryTag(): number {
    return this.#nextTag++;
  }

  onFrame(frame: Exclude<InputFrame, { kind: 'heartbeat' }>): void {
    if (this.state !== 'open') {
      this.#whileClosing(frame);
      return;
    }
    switch (frame.kind) {
      case 'publish':
        this.#onPublish(frame);
        return;
      case 'ack':
        this.#onMethod('basic.ack', frame);
        return;
      case 'method':
        this.#onMethod(frame.method.name, frame.method.fields);
        return;
      case 'header':
        this.#onHeader(frame);
        return;
      default:
        this.#onBody(frame.payload);
    }
  }

  #whileClosing(frame: Exclude<InputFrame, { kind: 'heartbeat' }>): void {
    if (frame.kind !== 'method') return;
    if (frame.method.name === 'channel.close') this.send({ name: 'channel.close-ok', fields: {} });
    if (frame.method.name === 'channel.close' || frame.method.name === 'channel.close-ok') this.remove();
  }

  #onMethod(name: MethodName, fields: unknown): void {
    if (this.#content !== undefined) {
      throw connectionError(ReplyCode.unexpectedFrame, `expected content header for class 60, got '${name}'`);
    }
    if (name === 'basic.publish') {
      // try/catch in place of #guard here and below: no closure per message.
      if (this.#checkPublish(fields as BasicPublish))
        this.#content = { fields: fields as BasicPublish, header: undefined, chunks: undefined, received: 0 };
      return;
    }
    const handler = this.#methods.handlers[name] as ((c: AmqpChannel, f: unknown) => void) | undefined;
    if (handler === undefined) {
      throw connectionError(ReplyCode.commandInvalid, `method '${name}' not allowed from a client`);
    }
    try {
      handler(this, fields);
    } catch (err) {
      this.fail(err, methodInfo[name]);
    }
  }

  /**
   * The publish's checks; false when they failed. A hard failure (immediate=true, 540) closes the
   * connection and leaves this channel open, so the channel's state cannot tell: a publish that came
   * whole with its body must not be routed after its connection was refused.
   */
  #checkPublish(fields: BasicPublish): boolean {
    try {
      this.#methods.checkPublish(this, fields);
      return true;
    } catch (err) {
      this.fail(err, publishIds);
      return false;
    }
  }

  /**
   * A publish whose header and one body frame came with it: the steps of method, header and body
   * in their order, with the same checks and answers, and no content to assemble.
   */
  #onPublish(record: PublishRecord): void {
    if (this.#content !== undefined) {
      throw connectionError(
        ReplyCode.unexpectedFrame,
        "expected content header for class 60, got 'basic.publish'",
      );
    }
    if (!this.#checkPublish(record) || this.#bodyTooLarge(record.body.byteLength)) return;
    // Copied as a one-frame body always was; the view is dropped so nothing that keeps the record
    // (a transaction holds its fields) pins the read it points into.
    const body = Buffer.from(record.body);
    record.body = noBytes;
    try {
      this.#methods.publishContent(this, record, record.properties, body);
    } catch (err) {
      this.fail(err, publishIds);
    }
  }

  /** A body over the configured maximum fails the publish (a soft error, as RabbitMQ's). */
  #bodyTooLarge(bodySize: number): boolean {
    const bytesMax = this.conn.shared.messageBytesMax;
    if (bodySize <= bytesMax) return false;
    const err = new AmqpError(
      ReplyCode.preconditionFailed,
      `message size ${bodySize} is larger than configured max size ${bytesMax}`,
      false,
    );
    this.fail(err, methodInfo['basic.publish']);
    return true;
  }

  #onHeader(header: ContentHeader): void {
    const content = this.#content;
    if (content === undefined || content.header !== undefined) {
      throw connectionError(ReplyCode.unexpectedFrame, 'content header without basic.publish');
    }
    content.header = header;
    if (header.bodySize > this.conn.shared.messageBytesMax) {
      this.#content = undefined;
      this.#bodyTooLarge(header.bodySize);
      return;
    }
    if (header.bodySize === 0) this.#complete(content, new Uint8Array(0));
  }

  #onBody(payload: Uint8Array): void {
    const content = this.#content;
    if (content?.header === undefined)
      throw connectionError(ReplyCode.unexpectedFrame, 'content body without header');
    content.received += payload.byteLength;
    if (content.received > content.header.bodySize) {
      throw connectionError(
        ReplyCode.frameError,
        `content body exceeds the ${content.header.bodySize} bytes announced`,
      );
    }
    // Payloads are views into the socket buffer (Buffer.slice would not copy): copy, so a queued body
    // does not pin the whole read chunk. Buffer.from takes small copies from Node's shared pool.
    if (content.received === content.header.bodySize && content.chunks === undefined) {
      this.#complete(content, Buffer.from(payload));
      return;
    }
    content.chunks ??= [];
    content.chunks.push(new Uint8Array(payload));
    // A message being assembled is input not yet handed on: it counts against the ingress budget.
    this.conn.account.add(payload.byteLength);
    if (content.received === content.header.bodySize) this.#complete(content, Buffer.concat(content.chunks));
  }

  #complete(content: PendingContent, body: Uint8Array): void {
    this.#dropContent();
    try {
      this.#methods.publishContent(this, content.fields, content.header!.properties, body);
    } catch (err) {
      this.fail(err, publishIds);
    }
  }

  /** Soft errors close this channel (channel.close, then await close-ok); hard ones the connection. */
  fail(err: unknown, ids: { classId: number; methodId: number }): void {
    const reply = toReply(err);
    if (!reply.expected) this.conn.log.error({ err, channel: this.number }, 'unexpected error in channel');
    if (reply.hard) {
      this.conn.closeWith(reply.replyCode, reply.replyText, ids.classId, ids.methodId);
      return;
    }
    if (this.state !== 'open') return;
    this.send({
      name: 'channel.close',
      fields: { replyCode: reply.replyCode, replyText: reply.replyText, ...ids },
    });
    this.state = 'closing';
    this.dispose();
  }

  /** Delivers a queue message to one of this channel's consumers. */
  deliver(consumer: ChannelConsumer, delivery: Delivery): void {
    const tag = this.nextDeliveryTag();
    if (!consumer.noAck) this.unacked.set(tag, delivery.queue, delivery.id);
    if (consumer.quorum && delivery.deliveryCount > 0) {
      const counted = withDeliveryCount(delivery.message, delivery.deliveryCount);
      this.sendMessage(consumer.tag, tag, delivery.redelivered, counted);
      return;
    }
    const { message } = delivery;
    // One shape per channel, filled per delivery: it is read only while the frames are written.
    const shape = this.#shape;
    shape.consumerTag = consumer.tagBytes;
    shape.exchange = this.#exchangeBytes.of(message.exchange);
    shape.routingKey = this.#routingKeyBytes.of(message.routingKey);
    shape.properties = encodedProperties(message.properties);
    shape.bodyBytes = message.body.byteLength;
    if (this.conn.sendDelivery(this.number, shape, tag, delivery.redelivered, message.body)) return;
    this.sendMessage(consumer.tag, tag, delivery.redelivered, message);
  }

  sendMessage(consumerTag: string, deliveryTag: number, redelivered: boolean, message: Message): void {
    const method: Method = {
      name: 'basic.deliver',
      fields: {
        consumerTag,
        deliveryTag,
        redelivered,
        exchange: message.exchange,
        routingKey: message.routingKey,
      },
    };
    this.conn.sendContent(this.number, method, toBasicProperties(message.properties), message.body);
  }

  /** Gives back everything this channel holds: consumers cancelled, unacked requeued (RabbitMQ on channel close). */
  dispose(): void {
    this.#dropContent();
    for (const c of this.consumers.values()) c.consumer?.cancel();
    this.consumers.clear();
    this.unacked.clear();
    this.tx = undefined;
    if (this.replyToken !== undefined) this.conn.shared.replyTo.unregister(this.replyToken);
    this.replyToken = undefined;
    this.conn.core?.releaseOwner(this.owner);
  }

  #dropContent(): void {
    const content = this.#content;
    this.#content = undefined;
    if (content?.chunks === undefined) return;
    let held = 0;
    for (const chunk of content.chunks) held += chunk.byteLength;
    this.conn.account.remove(held);
  }

  remove(): void {
    if (this.opened && this.state !== 'closed') this.conn.core?.closeChannel();
    this.state = 'closed';
    this.dispose();
    this.conn.channels.delete(this.number);
  }
}
