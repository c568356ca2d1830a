/**
 * One AMQP 0-9-1 connection over a transport (TCP or TLS): protocol header, frames in and out, the handshake state
 * machine (methods/connection.ts), heartbeats, channels and the close handshakes. Every handler runs
 * inside a guard, so bad input closes the channel or this connection, never the broker.
 */
import type { AlarmKind, ChannelDescription, CoreClient } from '../../core/api.js';
import type { CreditLimit, PublishOptions } from '../../core/types.js';
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import { compact } from '../chunks.js';
import type { IngressAccount } from '../ingress.js';
import type { TokenGrant } from '../listener.js';
import { sendRoom } from '../send-room.js';
import type { Transport } from '../transport.js';
import { AmqpChannel, type ChannelConnection } from './channel.js';
import { type DeliveryShape, deliveryBytes, writeDelivery } from './codec/deliver.js';
import {
  type BasicProperties,
  checkProtocolHeader,
  encodeContent,
  encodeHeartbeatFrame,
  encodeMethodFrame,
  frameBytesAt,
  frameMinBytes,
  type InputFrame,
  isAmqpCodecError,
  type Method,
  methodInfo,
  parseInput,
  protocolHeader,
  ReplyCode,
} from './codec/index.js';
import { connectionError, toReply } from './errors.js';
import { handleConnectionMethod, sendStart } from './methods/connection.js';
import { channelMethods } from './methods/index.js';
import {
  type ConnectionState,
  type HandshakeConnection,
  type ListenerShared,
  tuneDefaults,
} from './session.js';

/** What every connection of one listener shares. */
type Timer = ReturnType<Clock['setTimeout']>;

/** How long a closing peer gets to answer connection.close before the socket is dropped. */
const closeTimeoutMs = 3000;
/** At broker shutdown, how long a client gets to take connection.close before it is dropped. */
const shutdownGraceMs = 1000;
/**
 * Publisher flow control: a connection stops reading while a queue it fed has consumers and more
 * ready messages than `flowReadyHigh` (its consumers are behind), and reads on once the queue is
 * down to `flowReadyLow`. The publisher then runs at its consumers' pace and the backlog waits in
 * TCP buffers instead of the queue. Queues without consumers only buffer and never hold anyone.
 */
const flowReadyHigh = 2000;
const flowReadyLow = 1000;
/** How often a held publisher looks at its queues again. */
const flowPollMs = 1;
/**
 * A hold ends when the backlog has not shrunk for this long: its consumers are stalled (perhaps
 * waiting for acks this very connection would send), so holding would only deadlock.
 */
const flowStallMs = 20;
/**
 * Time one connection's frames may hold the event loop before it yields (`setImmediate`) and goes on
 * with the rest, looked at every `sliceFramesPerLook` frames. Frames are cheap, so a read of ordinary
 * publishes never reaches it, even on a loaded machine whose wall clock runs on while the broker waits
 * for a core (10 ms did there, and cost publishers); a publish through a chain of 5,000 exchanges
 * costs 7 ms, and a read of 1,000 of them held every other client for 7 s.
 */
const sliceMs = 50;
const sliceFramesPerLook = 16;
/**
 * Output is copied into a slab and leaves once per event-loop turn as one socket write: far cheaper
 * than a stream write per frame. Frames larger than `copyBytesMax` are written as they are.
 */
const slabBytes = 64 * 1024;
/**
 * Until the connection is open it writes a few small frames: a small slab, so that thousands of
 * connections in their handshake (a reconnect storm, a flood) do not each hold 64 KiB.
 */
const handshakeSlabBytes = 4096;
const emptyInput = Buffer.alloc(0);
const copyBytesMax = 16 * 1024;
/**
 * Bytes of answers and deliveries one connection may have queued to its socket and not yet sent
 * before it handles no further frame and stops reading, until the socket drains: a client that
 * pipelines methods (basic.get, queue.declare) and does not read what it is answered slows only itself.
 */
export const outboundBytesMax = 4 * 1024 * 1024;

export class AmqpConnection implements HandshakeConnection, ChannelConnection {
  readonly id: string;
  readonly shared: ListenerShared;
  readonly transport: Transport;
  readonly log: Logger;
  state: ConnectionState = 'header';
  user = '';
  /** The logged-in user's tags (`impersonator` may publish with another `user_id`). */
  tags: readonly string[] = [];
  grant: TokenGrant | undefined;
  offered: readonly string[] = [];
  /** Set by connection.open: every command of this connection goes through it. */
  core: CoreClient | undefined;
  clientCapabilities = new Set<string>();
  clientProperties: Record<string, unknown> = {};
  /** Spec 4.2.3: until tune-ok agrees on frame-max, frames are at most frame-min-size (4096). */
  frameBytesMax: number = frameMinBytes;
  channelMax: number = tuneDefaults.channelMax;
  heartbeatS = 0;
  readonly channels = new Map<number, AmqpChannel>();
  /** This connection's share of the broker's ingress budget: unparsed input, queued frames, messages being assembled. */
  readonly account: IngressAccount;
  /** What every publish of this connection tells core, without and with `mandatory`: made once. */
  readonly #publishOptions: readonly [PublishOptions, PublishOptions];
  /** Aborted when the transport closes: a login still waiting for its hash stops. */
  readonly #gone = new AbortController();
  #input: Buffer | undefined;
  /**
   * Chunks that arrived after `#input` and are not yet joined to it: they are joined once
   * `#neededBytes` have arrived, so a frame trickling in is copied once, not once per chunk.
   */
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #neededBytes: number = protocolHeader.length;
  /** Bytes of the frames in `#queued`. */
  #queuedBytes = 0;
  /** What `account` was last told the input holds. */
  #heldBytes = 0;
  #paused = false;
  /** The ingress budget is spent: the socket is not read (frames already read are still handled). */
  #budgetPaused = false;
  /** Bad framing closed the connection: input is dropped from then on (see `#parse`). */
  #framingLost = false;
  /** Stopped at a basic.publish while a resource alarm is active (RabbitMQ's `blocked`). */
  #blocked = false;
  /** Yielded the event loop after `sliceMs` of frames; goes on at the next turn. */
  #sliced = false;
  /** When this connection's current slice of frame handling began (`performance.now()`). */
  #sliceStartedMs = 0;
  /** connection.blocked went out and connection.unblocked is owed. */
  #blockedSent = false;
  /** Published at least once: a publishing connection hears of alarms at once (RabbitMQ). */
  #published = false;
  /** The socket holds more than `outboundBytesMax` unsent: nothing is handled or read until it drains. */
  #sendHeld = false;
  #sendRoom: CreditLimit | undefined;
  /** Held by flow control: a queue this connection fed is too far ahead of its consumers. */
  #flowHeld = false;
  #flowTimer: Timer | undefined;
  /** Smallest backlog seen during this hold, and when it was last lower. */
  #flowReady = 0;
  #flowProgressMs = 0;
  /** Queues published to since the last flow check. */
  readonly #fed = new Set<string>();
  #queued: InputFrame[] = [];
  #slab: Buffer = emptyInput;
  /** `#slab` from `#slabStart` to `#slabEnd` is written but not yet handed to the socket. */
  #slabStart = 0;
  #slabEnd = 0;
  #flushQueued = false;
  /** Heartbeats, the handshake and close deadlines and flow polls run on core's clock (tests: ManualClock). */
  readonly #clock: Clock;
  #lastReadMs: number;
  #lastWriteMs: number;
  #heartbeatTimer: Timer | undefined;
  #deadline: Timer | undefined;
  /** Closes the connection when its login's token expires. */
  #expiry: Timer | undefined;
  readonly #onClosed: (c: AmqpConnection) => void;

  constructor(
    id: string,
    transport: Transport,
    shared: ListenerShared,
    onClosed: (c: AmqpConnection) => void,
  ) {
    this.id = id;
    this.transport = transport;
    this.shared = shared;
    this.#onClosed = onClosed;
    this.#publishOptions = [
      Object.freeze({ mandatory: false, publisher: id }),
      Object.freeze({ mandatory: true, publisher: id }),
    ];
    this.log = shared.logger.child({ connection: id });
    this.account = shared.ingress.open({
      pause: () => this.#budgetHold(true),
      resume: () => this.#budgetHold(false),
      evict: () => transport.destroy(),
    });
    this.#clock = shared.core.clock;
    this.#lastReadMs = this.#clock.now();
    this.#lastWriteMs = this.#lastReadMs;
    this.#deadline = this.#clock.setTimeout(() => this.#handshakeExpired(), shared.handshakeTimeoutMs);
    transport.attach({ data: (chunk) => this.#onData(chunk), closed: () => this.#cleanup() });
  }

  publishOptions(mandatory: boolean): PublishOptions {
    return this.#publishOptions[mandatory ? 1 : 0];
  }

  /** Aborts when the connection is gone. */
  get gone(): AbortSignal {
    return this.#gone.signal;
  }

  // ---- output

  write(bytes: Uint8Array): void {
    if (this.state === 'closed') return;
    if (bytes.byteLength > copyBytesMax) {
      this.#flush();
      this.#lastWriteMs = this.#clock.now();
      this.transport.write(bytes);
      return;
    }
    const slab = this.#reserve(bytes.byteLength);
    slab.set(bytes, this.#slabEnd);
    this.#slabEnd += bytes.byteLength;
  }

  /** basic.deliver with its content, encoded in place; false when the caller must use `sendContent`. */
  sendDelivery(
    channel: number,
    shape: DeliveryShape,
    deliveryTag: number,
    redelivered: boolean,
    body: Uint8Array,
  ): boolean {
    const size = deliveryBytes(shape, this.frameBytesMax);
    if (size < 0 || size > copyBytesMax) return false;
    if (this.state === 'closed') return true;
    const slab = this.#reserve(size);
    this.#slabEnd = writeDelivery(
      slab,
      this.#slabEnd,
      channel,
      shape,
      deliveryTag,
      redelivered,
      body,
      this.frameBytesMax,
    );
    return true;
  }

  /** The slab with room for `bytes` more at `#slabEnd`; what it holds leaves at the end of this turn. */
  #reserve(bytes: number): Buffer {
    if (this.#slabEnd + bytes > this.#slab.byteLength) {
      this.#flush();
      // The old slab may still be queued in the transport: start a new one rather than reuse it.
      const size = this.state === 'opened' ? slabBytes : handshakeSlabBytes;
      this.#slab = Buffer.allocUnsafe(Math.max(size, bytes));
      this.#slabStart = 0;
      this.#slabEnd = 0;
    }
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      process.nextTick(() => {
        this.#flushQueued = false;
        this.#flush();
      });
    }
    return this.#slab;
  }

  #flush(): void {
    if (this.#slabEnd === this.#slabStart) return;
    const bytes = this.#slab.subarray(this.#slabStart, this.#slabEnd);
    this.#slabStart = this.#slabEnd;
    if (this.transport.closed) return;
    this.#lastWriteMs = this.#clock.now();
    this.transport.write(bytes);
  }

  sendMethod(channel: number, method: Method): void {
    this.write(encodeMethodFrame(channel, method, this.frameBytesMax));
  }

  sendContent(channel: number, method: Method, properties: BasicProperties, body: Uint8Array): void {
    this.write(encodeContent(channel, method, properties, body, this.frameBytesMax));
  }

  // ---- input

  #onData(chunk: Buffer): void {
    this.#lastReadMs = this.#clock.now();
    if (this.state === 'closed' || this.#framingLost) return;
    this.#pending.push(chunk);
    this.#pendingBytes += chunk.length;
    // Each round takes some of `#pending` (all of it, or the bytes a split frame lacks): it ends.
    while (this.#pendingBytes > 0) {
      const inputBytes = this.#input?.length ?? 0;
      if (inputBytes + this.#pendingBytes < this.#neededBytes) {
        this.#recount();
        return;
      }
      const lacking = this.#neededBytes - inputBytes;
      if (inputBytes > 0 && lacking > 0 && !this.#held()) {
        // A frame split across reads: join only the bytes it lacks, and parse the rest of the read
        // in place next round, rather than copying the whole read behind the frame's first part.
        this.#input = Buffer.concat([this.#input!, ...this.#takePending(lacking)]);
      } else {
        const parts = inputBytes === 0 ? this.#pending : [this.#input!, ...this.#pending];
        this.#input = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
        this.#pending = [];
        this.#pendingBytes = 0;
      }
      this.#process();
      if ((this.state as ConnectionState) === 'closed' || this.#framingLost) return;
    }
  }

  /** The first `bytes` of `#pending`, taken from it; a chunk split in two is viewed, not copied. */
  #takePending(bytes: number): Buffer[] {
    const taken: Buffer[] = [];
    let rest = bytes;
    while (rest > 0) {
      const chunk = this.#pending[0]!;
      if (chunk.length <= rest) {
        taken.push(chunk);
        this.#pending.shift();
        rest -= chunk.length;
      } else {
        taken.push(chunk.subarray(0, rest));
        this.#pending[0] = chunk.subarray(rest);
        rest = 0;
      }
    }
    this.#pendingBytes -= bytes;
    return taken;
  }

  /** Stops frame processing and reading while an asynchronous step (login) runs; `resume` picks up the rest. */
  pause(): void {
    this.#paused = true;
    this.#updateReading();
  }

  resume(): void {
    this.#paused = false;
    this.#updateReading();
    this.#process();
  }

  #budgetHold(held: boolean): void {
    this.#budgetPaused = held;
    this.#updateReading();
  }

  /** The transport is read unless a login, an alarm, flow control or the ingress budget holds it. */
  #updateReading(): void {
    if (this.state === 'closed') return;
    const held = this.#held() || this.#budgetPaused;
    if (held || this.#framingLost) this.transport.pause();
    else this.transport.resume();
  }

  #process(): void {
    this.#sliceStartedMs = performance.now();
    try {
      if (this.state === 'header' && !this.#readHeader()) return;
      this.#runFrames(this.#queued.splice(0), this.#takeQueuedBytes());
      while (this.#readable()) {
        const parsed = this.#parse();
        if (parsed === undefined) return;
        const { frames, bytes } = parsed;
        if (frames.length === 0) break;
        // Body payloads are views into the input: keep the rest as its own buffer, never overwrite.
        this.#input = this.#input!.subarray(bytes);
        this.#runFrames(frames, bytes);
        if (this.#fed.size > 0) this.#checkFlow();
      }
      if (this.#input !== undefined) this.#input = compact(this.#input);
      this.#neededBytes = this.#nextFrameBytes();
    } catch (err) {
      this.fail(err, 0, 0);
    } finally {
      this.#recount();
    }
  }

  /**
   * The frames at the start of the input. On bad framing the connection is closed (frame error) and
   * the socket is not read again: no frame boundary can be trusted after it, and a peer must not be
   * able to make us keep bytes while we wait for a close-ok we could not find.
   */
  #parse(): { frames: InputFrame[]; bytes: number } | undefined {
    try {
      return parseInput(this.#input!, this.frameBytesMax);
    } catch (err) {
      this.#framingLost = true;
      this.#input = undefined;
      this.#pending = [];
      this.#pendingBytes = 0;
      this.fail(err, 0, 0);
      this.#updateReading();
      return undefined;
    }
  }

  /**
   * Tells the ingress budget what the input holds now: bytes not yet parsed and frames waiting behind
   * a pause. Messages being assembled from body frames are counted by their channel.
   */
  #recount(): void {
    const held = (this.#input?.length ?? 0) + this.#pendingBytes + this.#queuedBytes;
    if (held > this.#heldBytes) this.account.add(held - this.#heldBytes);
    else this.account.remove(this.#heldBytes - held);
    this.#heldBytes = held;
  }

  /**
   * Bytes `#input` must hold before parsing can make progress: the protocol header, a frame header, or
   * the whole frame whose header is there (its size was checked against frame-max when parsed).
   */
  #nextFrameBytes(): number {
    const input = this.#input ?? emptyInput;
    if (this.#held()) return input.length + 1;
    if (this.state === 'header') return protocolHeader.length;
    return frameBytesAt(input);
  }

  #takeQueuedBytes(): number {
    const bytes = this.#queuedBytes;
    this.#queuedBytes = 0;
    return bytes;
  }

  #readable(): boolean {
    return !this.#held() && this.#input !== undefined && this.#input.length > 0 && this.state !== 'closed';
  }

  /**
   * Frames parsed while a pause began wait in `#queued`, so order is kept across the pause. `bytes`
   * (of all `frames`) stay counted as held until none of them is left waiting.
   */
  #runFrames(frames: InputFrame[], bytes: number): void {
    for (let i = 0; i < frames.length; i++) {
      if ((this.state as ConnectionState) === 'closed') return;
      if (i % sliceFramesPerLook === sliceFramesPerLook - 1 && !this.#held()) this.#sliceSpent();
      const frame = frames[i]!;
      if (!this.#held()) {
        if (this.#isPublish(frame)) this.#publishing();
        if (!this.#held()) {
          this.#onFrame(frame);
          this.#checkSent();
          continue;
        }
      }
      this.#queued.push(...frames.slice(i));
      this.#queuedBytes += bytes;
      return;
    }
  }

  #held(): boolean {
    return this.#paused || this.#blocked || this.#flowHeld || this.#sliced || this.#sendHeld;
  }

  /**
   * Past `sliceMs` of frame handling the rest waits for the next turn, others going first. The socket
   * is not read meanwhile: a read while held would join the input again at every chunk.
   */
  #sliceSpent(): void {
    if (performance.now() - this.#sliceStartedMs < sliceMs) return;
    this.#sliced = true;
    this.#updateReading();
    setImmediate(() => {
      this.#sliced = false;
      if (this.state === 'closed') return;
      this.#updateReading();
      this.#process();
    });
  }

  // ---- answers the client does not read

  /** Unsent bytes: the socket's, and the slab's not yet handed to it. */
  get #unsentBytes(): number {
    return this.transport.bufferedBytes + this.#slabEnd - this.#slabStart;
  }

  #checkSent(): void {
    if (this.#unsentBytes <= outboundBytesMax || this.state === 'closed') return;
    this.#sendHeld = true;
    this.#updateReading();
    // The send room (made here if no consumer made it) wakes `#drained` first at the drain.
    void this.sendRoom;
  }

  /** Room to send, for this connection's consumers: none past `outboundBytesMax` unsent (./send-room.ts). */
  get sendRoom(): CreditLimit {
    if (this.#sendRoom === undefined) {
      this.#sendRoom = sendRoom(this.transport, () => this.#unsentBytes, outboundBytesMax);
      // Its first listener: frames held for the drain are handled before the consumers it wakes fill
      // the socket again. Woken first, a no-ack consumer of a deep queue did so at every drain, and the
      // connection's frames (basic.cancel, channel.close) waited until the queue was empty.
      this.#sendRoom.onRoom(() => this.#drained());
    }
    return this.#sendRoom;
  }

  #drained(): void {
    if (!this.#sendHeld || this.#unsentBytes > outboundBytesMax) return;
    this.#sendHeld = false;
    // Nothing was read while held, heartbeats included.
    this.#lastReadMs = this.#clock.now();
    this.#updateReading();
    this.#process();
  }

  // ---- publisher flow control

  /** A publish reached `queues` (core's routing result, through any exchange). */
  fed(queues: Iterable<string>): void {
    for (const queue of queues) this.#fed.add(queue);
  }

  #checkFlow(): void {
    const backlog = this.#backlog();
    if (backlog <= flowReadyHigh) {
      this.#fed.clear();
      return;
    }
    this.#flowHeld = true;
    this.#flowReady = backlog;
    this.#flowProgressMs = this.#clock.now();
    this.#updateReading();
    this.#flowTimer = this.#clock.setTimeout(() => this.#pollFlow(), flowPollMs);
  }

  /** The most ready messages in a fed queue that has consumers. */
  #backlog(): number {
    const vhost = this.core;
    if (vhost === undefined) return 0;
    let most = 0;
    for (const queue of this.#fed) {
      const info = vhost.peekQueue(queue);
      if (info !== undefined && info.consumerCount > 0) most = Math.max(most, info.messageCount);
    }
    return most;
  }

  #pollFlow(): void {
    const backlog = this.state === 'opened' ? this.#backlog() : 0;
    const now = this.#clock.now();
    if (backlog < this.#flowReady) {
      this.#flowReady = backlog;
      this.#flowProgressMs = now;
    }
    if (backlog > flowReadyLow && now - this.#flowProgressMs < flowStallMs) {
      this.#flowTimer = this.#clock.setTimeout(() => this.#pollFlow(), flowPollMs);
      return;
    }
    this.#releaseFlow();
    this.#process();
  }

  #releaseFlow(): void {
    if (!this.#flowHeld) return;
    this.#flowTimer?.cancel();
    this.#flowHeld = false;
    this.#fed.clear();
    // Nothing was read while held, heartbeats included.
    this.#lastReadMs = this.#clock.now();
    this.#updateReading();
  }

  #isPublish(frame: InputFrame): boolean {
    const publish =
      frame.kind === 'publish' || (frame.kind === 'method' && frame.method.name === 'basic.publish');
    return publish && this.state === 'opened';
  }

  // ---- resource alarms (RabbitMQ's connection.blocked extension, docs "Blocked Connection Notifications")

  /**
   * A basic.publish is next: under an alarm the connection stops right here, before the publish, and
   * stops reading its socket, so the publisher feels TCP back-pressure. Connections that only consume
   * never get here and keep going.
   */
  #publishing(): void {
    this.#published = true;
    const active = this.shared.core.alarms.active();
    if (active.length === 0) return;
    this.#blocked = true;
    this.#updateReading();
    this.#sendBlocked(active);
    this.log.debug({ alarms: active }, 'blocked by resource alarm');
  }

  /** The listener passes on every change of the active alarms. */
  onAlarms(active: readonly AlarmKind[]): void {
    if (this.state !== 'opened') return;
    if (active.length > 0) {
      if (this.#published) this.#sendBlocked(active);
      return;
    }
    if (this.#blockedSent) {
      this.#blockedSent = false;
      this.sendMethod(0, { name: 'connection.unblocked', fields: {} });
    }
    if (!this.#blocked) return;
    this.#blocked = false;
    // Nothing was read while blocked, the client's heartbeats included; RabbitMQ pauses its monitor too.
    this.#lastReadMs = this.#clock.now();
    this.#updateReading();
    this.#process();
  }

  /** Once per blocked spell, and only to clients that asked for it in their capabilities. */
  #sendBlocked(active: readonly AlarmKind[]): void {
    if (this.#blockedSent || !this.clientCapabilities.has('connection.blocked')) return;
    this.#blockedSent = true;
    const reason = active.map((kind) => (kind === 'memory' ? 'low on memory' : 'low on disk space'));
    this.sendMethod(0, { name: 'connection.blocked', fields: { reason: reason.join(' and ') } });
  }

  /** Spec 4.2.2: a wrong header gets ours back and the socket is closed. */
  #readHeader(): boolean {
    const input = this.#input!;
    const check = checkProtocolHeader(input);
    if (check === 'incomplete') return false;
    if (check === 'unsupported') {
      this.transport.write(protocolHeader);
      this.transport.end();
      this.state = 'closed';
      return false;
    }
    this.#input = input.subarray(protocolHeader.length);
    this.state = 'start';
    sendStart(this);
    return true;
  }

  #onFrame(frame: InputFrame): void {
    if (frame.kind === 'heartbeat') return;
    if (frame.channel === 0) {
      if (frame.kind !== 'method')
        throw connectionError(ReplyCode.unexpectedFrame, 'content frame on channel 0');
      this.#guard(frame.method, () => handleConnectionMethod(this, frame.method));
      return;
    }
    if (this.state === 'closing') return;
    if (this.state !== 'opened')
      throw connectionError(ReplyCode.channelError, `channel ${frame.channel} used before connection.open`);
    let channel = this.channels.get(frame.channel);
    if (channel === undefined) {
      if (frame.kind !== 'method' || frame.method.name !== 'channel.open') {
        throw connectionError(ReplyCode.channelError, `expected 'channel.open' on channel ${frame.channel}`);
      }
      if (frame.channel > this.channelMax) {
        throw connectionError(
          ReplyCode.channelError,
          `channel ${frame.channel} exceeds channel_max ${this.channelMax}`,
        );
      }
      channel = new AmqpChannel(this, frame.channel, channelMethods);
      this.channels.set(frame.channel, channel);
    }
    channel.onFrame(frame);
  }

  /** Runs a handler; its failure closes the connection (hard) with the method's ids. */
  #guard(method: Method, run: () => void): void {
    try {
      run();
    } catch (err) {
      const info = methodInfo[method.name];
      this.fail(err, info.classId, info.methodId);
    }
  }

  // ---- closing

  /** A connection exception (or an unexpected failure): connection.close with the reply code. */
  fail(err: unknown, classId: number, methodId: number): void {
    const reply = toReply(err);
    if (!reply.expected) this.log.error({ err }, 'unexpected error; closing connection');
    // Codec errors know the method they were decoding.
    const ids = isAmqpCodecError(err) && err.classId !== 0 ? err : { classId, methodId };
    this.closeWith(reply.replyCode, reply.replyText, ids.classId, ids.methodId);
  }

  /** Server-initiated close (spec 4.2.2 / connection.close): wait for close-ok, then drop the socket. */
  closeWith(replyCode: number, replyText: string, classId = 0, methodId = 0): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    if (this.state === 'header') {
      this.transport.destroy();
      return;
    }
    this.sendMethod(0, { name: 'connection.close', fields: { replyCode, replyText, classId, methodId } });
    this.state = 'closing';
    // A blocked peer's close-ok sits behind its held publishes: read on, channel frames are now ignored.
    if (this.#blocked || this.#flowHeld) {
      this.#blocked = false;
      this.#releaseFlow();
      this.#updateReading();
      process.nextTick(() => this.#process());
    }
    this.#releaseAll();
    this.#deadline?.cancel();
    this.#deadline = this.#clock.setTimeout(() => this.transport.destroy(), closeTimeoutMs);
  }

  /** The peer answered our connection.close, or asked to close and got close-ok. */
  finish(): void {
    this.#releaseAll();
    this.#flush();
    this.state = 'closed';
    this.transport.end();
    this.#deadline?.cancel();
    this.#deadline = this.#clock.setTimeout(() => this.transport.destroy(), closeTimeoutMs);
  }

  #releaseAll(): void {
    for (const channel of this.channels.values()) channel.dispose();
    this.channels.clear();
    this.core?.closeConnection();
  }

  #cleanup(): void {
    this.#gone.abort();
    this.account.close();
    this.#queued = [];
    this.#deadline?.cancel();
    this.#flowTimer?.cancel();
    this.#heartbeatTimer?.cancel();
    this.#expiry?.cancel();
    if (this.state !== 'closed') this.#releaseAll();
    this.state = 'closed';
    this.#onClosed(this);
  }

  #handshakeExpired(): void {
    if (this.state === 'opened' || this.state === 'closed') return;
    this.log.debug('handshake timed out');
    this.transport.destroy();
  }

  /** The handshake finished: the deadline is off, heartbeats start when negotiated. */
  opened(): void {
    this.#deadline?.cancel();
    this.state = 'opened';
    if (this.heartbeatS > 0) this.#startHeartbeats(this.heartbeatS * 1000);
  }

  expireAt(atMs: number | undefined): void {
    this.#expiry?.cancel();
    this.#expiry = undefined;
    if (atMs === undefined || this.state === 'closed') return;
    this.#expiry = this.#clock.setTimeout(() => {
      this.log.info({ user: this.user }, 'token expired; closing');
      this.closeWith(ReplyCode.accessRefused, 'ACCESS_REFUSED - credential expired');
    }, atMs - this.#clock.now());
  }

  /** Spec 4.2.7: send a heartbeat when nothing else went out for half the interval; a peer silent for two intervals is dead. */
  #startHeartbeats(intervalMs: number): void {
    this.#heartbeatTimer = this.#clock.setTimeout(() => {
      if (this.state === 'closed') return;
      const now = this.#clock.now();
      // A budget pause does not excuse silence: a peer stalled halfway through a frame must not hold
      // its bytes for ever, and a live one whose heartbeats went unread reconnects.
      if (!this.#held() && now - this.#lastReadMs > intervalMs * 2) {
        this.log.info({ heartbeatS: this.heartbeatS }, 'missed heartbeats from client; closing');
        this.transport.destroy();
        return;
      }
      if (now - this.#lastWriteMs >= intervalMs / 2) this.write(encodeHeartbeatFrame());
      this.#startHeartbeats(intervalMs);
    }, intervalMs / 2);
  }

  describeChannels(): ChannelDescription[] {
    return [...this.channels.values()].map((channel) => ({
      number: channel.number,
      prefetchCount: channel.prefetch,
      globalPrefetchCount: channel.credit.max,
      unacked: channel.unacked.size,
      consumers: channel.consumers.size,
      confirm: channel.confirms !== undefined,
      transactional: channel.tx !== undefined,
    }));
  }

  /** Broker shutdown: tell the client, give it a moment, then drop it. */
  shutdown(): Promise<void> {
    return new Promise((resolve) => {
      if (this.transport.closed) return resolve();
      this.#gone.signal.addEventListener('abort', () => resolve());
      if (this.state === 'opened')
        this.closeWith(ReplyCode.connectionForced, 'CONNECTION_FORCED - broker shutdown');
      else this.transport.destroy();
      // Real time, not the clock: a stopping broker must not wait on a test's ManualClock.
      setTimeout(() => this.transport.destroy(), shutdownGraceMs).unref();
    });
  }
}
