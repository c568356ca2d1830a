/**
 * One MQTT network connection: framing, decoding, in-order dispatch to one handler per packet type,
 * and the teardown that hands the session back to the core (deliveries requeued, will scheduled).
 * Handlers that wait (CONNECT, SUBSCRIBE, UNSUBSCRIBE) hold back later packets until they finish, so a
 * client's packets take effect in the order it sent them.
 */
import { Buffer } from 'node:buffer';
import mqttPacket, { type Packet } from 'mqtt-packet';
import type { CoreClient, CoreSession } from '../../core/api.js';
import { SharedCredit } from '../../core/credit.js';
import { internalPrincipal } from '../../core/entry/context.js';
import type { Consumer } from '../../core/types.js';
import { assert } from '../../shared/assert.js';
import type { Clock } from '../../shared/clock.js';
import type { IngressAccount, IngressHandle } from '../ingress.js';
import { gatherWrites, type Transport, type TransportReceiver } from '../transport.js';
import { handleAuthenticating, handleReauthentication } from './auth.js';
import { decodeConnect311 } from './codec/connect.js';
import { FrameReader, readHeader } from './codec/framing.js';
import {
  type ConnectFacts,
  checkConnect,
  checkPacket,
  type PublishIn,
  type Violation,
} from './codec/wellformed.js';
import { handleConnect } from './connect.js';
import { handlePublish, handlePubrel } from './inbound.js';
import { Reason } from './limits.js';
import type { SubscriptionEntry } from './model.js';
import { handlePuback, handlePubcomp, handlePubrec } from './outbound.js';
import { decodeWhole } from './parsers.js';
import { type ClientHandle, type MqttServer, SubscriptionTable } from './server.js';
import type { Authentication, Connection, Inbound, OutboundEntry, ProtocolVersion, Will } from './session.js';
import { handleSubscribe, handleUnsubscribe } from './subscribe.js';
import { onClosed } from './teardown.js';
import { ProtocolViolation } from './violation.js';

const connectType = 1;
const holdBits = { backlog: 1, inbound: 2, budget: 4, answers: 8 } as const;
/** Connections already listening for their socket's drain to read on once their answers went out. */
const watchingAnswers = new WeakSet<object>();
/** WebSocket frame headers and control frames around an MQTT packet. */
const webSocketSlackBytes = 4096;
/**
 * Packets of one connection's backlog handled before it yields the event loop. Handlers that answer at
 * once chain through microtasks, which run before any other connection is read: 1,000 pipelined
 * SUBSCRIBE / UNSUBSCRIBE packets of one read held every other client for a second.
 */
const backlogPacketsPerTurnMax = 64;

const shortTypes: Partial<Record<Packet['cmd'], number>> = {
  puback: 0x40,
  pubrec: 0x50,
  pubrel: 0x62,
  pubcomp: 0x70,
  disconnect: 0xe0,
};

/**
 * v5 acknowledgements and DISCONNECT without properties in their shortest form (§3.4.2.1, §3.14.2.1):
 * no Property Length, and for the acknowledgements no Reason Code when it is 0x00 — the encoding
 * Mosquitto uses and its packet-sequence suite compares byte for byte.
 */
function shortForm(packet: Packet): Buffer | undefined {
  const first = shortTypes[packet.cmd];
  if (first === undefined) return undefined;
  const { properties, reasonCode, messageId } = packet as {
    properties?: object;
    reasonCode?: number;
    messageId?: number;
  };
  if (properties !== undefined && Object.keys(properties).length > 0) return undefined;
  const reason = reasonCode ?? 0;
  if (packet.cmd === 'disconnect') return Buffer.from(reason === 0 ? [first, 0] : [first, 1, reason]);
  const id = messageId ?? 0;
  const head = [first, reason === 0 ? 2 : 3, id >> 8, id & 0xff];
  return Buffer.from(reason === 0 ? head : [...head, reason]);
}

/**
 * 3.1 and 3.1.1 acknowledgements and CONNACK, encoded here rather than by `mqtt-packet`: a packet id
 * only (§3.4–3.7), flags and return code (§3.2), the same four bytes mqtt-packet writes.
 */
function ackForm311(packet: Packet): Buffer | undefined {
  // CONNACK (§3.2): acknowledge flags (Session Present) and the return code, as mqtt-packet writes them.
  if (packet.cmd === 'connack')
    return Buffer.from([0x20, 2, packet.sessionPresent ? 1 : 0, packet.returnCode ?? 0]);
  const first = packet.cmd === 'disconnect' ? undefined : shortTypes[packet.cmd];
  if (first === undefined) return undefined;
  const id = (packet as { messageId?: number }).messageId ?? 0;
  const bytes = Buffer.allocUnsafe(4);
  bytes[0] = first;
  bytes[1] = 2;
  bytes[2] = id >> 8;
  bytes[3] = id & 0xff;
  return bytes;
}

const ackCommands = ['puback', 'pubrec', 'pubrel', 'pubcomp'] as const;

/**
 * PUBACK, PUBREC, PUBREL or PUBCOMP of packet id only (Remaining Length 2), already checked by
 * `checkPacket`: the packet `mqtt-packet` would give (a v5 one without a Reason Code means 0x00).
 */
function bareAck(frame: Buffer): Inbound | undefined {
  const cmd = ackCommands[(frame[0]! >> 4) - 4];
  if (cmd === undefined || frame[1] !== 2) return undefined;
  return { cmd, messageId: (frame[2]! << 8) | frame[3]!, reasonCode: 0 } as Inbound;
}

/**
 * PINGREQ (§3.12), and a 3.1/3.1.1 DISCONNECT (§3.14), of no more than their fixed header, already
 * checked by `checkPacket`: the packet `mqtt-packet` would give. A v5 DISCONNECT goes to it (its
 * reason code and properties default there).
 */
function bareControl(frame: Buffer, version: ProtocolVersion): Inbound | undefined {
  if (frame[1] !== 0) return undefined;
  if (frame[0] === 0xc0) return { cmd: 'pingreq' };
  if (frame[0] === 0xe0 && version !== 5) return { cmd: 'disconnect' };
  return undefined;
}

/**
 * What most connections never use, made on first use: an idle 3.1.1 connection has none of it
 * (about 200 bytes less each: docs/performance.md, "Footprint").
 */
class Extras {
  will: Will | undefined;
  sessionExpirySec: number | undefined = 0;
  clientReceiveMax = 65_535;
  clientPacketBytesMax = Number.POSITIVE_INFINITY;
  clientAliasesMax = 0;
  sharedConsumers: Map<string, Consumer> | undefined;
  inboundAliases: Map<number, string> | undefined;
  outboundAliases: Map<string, number> | undefined;
  inboundWaiters: Array<() => void> | undefined;
  deferredAcks: Array<[string, number]> | undefined;
  authentication: Authentication | undefined;
  expiryTimer: ReturnType<Clock['setTimeout']> | undefined;
  /** Packets that arrived while a handler waits, with the bytes of the frame each came in. */
  backlog: Array<[Inbound, number]> | undefined;
  backlogBytes = 0;
  /** Bytes the transport holds of a message not yet whole (a WebSocket). */
  transportHeldBytes = 0;
  /** Made when a login asks for it (`gone`): aborting one costs a DOMException, most connections need none. */
  gone: AbortController | undefined;
  /** The front end's own core client (`plumbing`). */
  plumbing: CoreClient | undefined;
}

/**
 * One MQTT connection. It is also what its transport and the ingress budget call (`data`, `holding`,
 * `closed`; `pause`, `resume`, `evict`): no object in between, where one was ~32 bytes and six
 * closures were ~400 on an idle connection.
 */
export class MqttConnection implements Connection, ClientHandle, TransportReceiver, IngressHandle {
  readonly id: string;
  readonly server: MqttServer;
  readonly transport: Transport;
  version: ProtocolVersion = 4;
  clientId = '';
  state: 'new' | 'connecting' | 'connected' | 'closed' = 'new';
  session: CoreSession | undefined;
  /** The client's Receive Maximum across all its consumers [MQTT-3.3.4-9]; set at resume. */
  readonly credit = new SharedCredit(1);
  /** The rarely used fields (the accessors further down), made on first use. */
  #extras: Extras | undefined;
  // The maps below are made on first use (the getters further down): an idle connection has none.
  #subscriptions: SubscriptionTable | undefined;
  sessionConsumer: Consumer | undefined;
  #outbound: Map<number, OutboundEntry> | undefined;
  #resend: Map<number, number> | undefined;
  #reserved: Set<number> | undefined;
  nextPacketId = 1;
  /** Inbound QoS 1 publishes not yet PUBACKed. */
  inboundPending = 0;
  inboundQos2Unanswered = 0;
  /** This connection's share of the broker's ingress budget: a partial packet and the backlog. */
  readonly account: IngressAccount;
  readonly #reader: FrameReader;
  #core: CoreClient | undefined;
  /** The listener's open connections (./listener.ts): this one leaves them when it closes. */
  /**
   * The listener that accepted it (./listener.ts), which ends its own connections when it closes: they
   * are found among the server's by this mark rather than kept in a set of the listener's too.
   */
  readonly listener: object | undefined;
  /** What the byte-level check read from the CONNECT being decoded (v5 properties, User Properties in order). */
  #connectFacts: ConnectFacts | undefined;
  /** The server's keep-alive wheel's (./keep-alive.ts): when this connection is next looked at, and where it is. */
  keepAliveDueMs = 0;
  keepAliveSlot = -1;
  /** How long the client may be silent (0: the CONNECT deadline, which no packet renews). */
  #idleMsMax = 0;
  /** When the last packet came in; the keep-alive timer looks at it rather than being re-armed per packet. */
  #lastPacketMs = 0;
  /** Bytes the socket had taken at the keep-alive timer's last look (`takingAnswers`). */
  #takenAtLook = 0;
  #busy = false;
  /** Backlog packets handled since this connection last yielded (`backlogPacketsPerTurnMax`). */
  #backlogRun = 0;
  /** What `account` was last told this connection holds. */
  #heldBytes = 0;
  /** Why the transport is not read, as bits of `holdBits`: a handler's backlog, the inbound window, the ingress budget. */
  #holds = 0;

  constructor(server: MqttServer, transport: Transport, listener?: object) {
    this.id = server.nextConnectionId();
    this.listener = listener;
    this.server = server;
    this.transport = gatherWrites(transport);
    const { packetBytesMax, connectPacketBytesMax } = server.limits;
    this.#reader = new FrameReader(Math.min(packetBytesMax, connectPacketBytesMax));
    this.account = server.ingress.open(this);
    this.armKeepAlive(server.limits.connectTimeoutMs, 0);
    this.transport.attach(this);
  }

  /** The transport's bytes. */
  data(chunk: Buffer): void {
    this.receive(chunk);
  }

  holding(bytes: number): void {
    this.transportHolding(bytes);
  }

  /** The ingress budget is spent: nothing is read until `resume`. */
  pause(): void {
    this.holdReading('budget', true);
  }

  resume(): void {
    this.holdReading('budget', false);
  }

  /** The ingress budget's eviction: it held bytes the longest without logging in. */
  evict(): void {
    this.transport.destroy();
  }

  /**
   * A WebSocket holds a message until it is whole (up to its maxPayload); those bytes count against
   * the ingress budget until it is handed on. Before the CONNACK a client may hold no more than a
   * CONNECT may be, with room for WebSocket framing.
   */
  transportHolding(bytes: number): void {
    if (bytes !== 0 || this.#extras !== undefined) this.extras.transportHeldBytes = bytes;
    this.recount();
    const connectBytesMax = this.server.limits.connectPacketBytesMax + webSocketSlackBytes;
    if (!this.account.authenticated && bytes > connectBytesMax) this.transport.destroy();
  }

  /** Aborts when the connection is gone: a login waiting for its hash stops. */
  get gone(): AbortSignal {
    const extras = this.extras;
    if (extras.gone === undefined) {
      extras.gone = new AbortController();
      if (this.state === 'closed') extras.gone.abort();
    }
    return extras.gone.signal;
  }

  /** As operators see it (core's registry of connections). */
  get protocol(): string {
    const { version } = this;
    return version === 5 ? 'MQTT 5.0' : version === 3 ? 'MQTT 3.1' : 'MQTT 3.1.1';
  }

  /** Keep-alive and the CONNECT deadline run on core's clock (tests: ManualClock). */
  private get clock(): Clock {
    return this.server.core.clock;
  }

  private get extras(): Extras {
    this.#extras ??= new Extras();
    return this.#extras;
  }

  /** Dropped by a normal DISCONNECT and by the broker shutting down: then no will is sent. */
  get will(): Will | undefined {
    return this.#extras?.will;
  }

  set will(will: Will | undefined) {
    if (will !== undefined || this.#extras !== undefined) this.extras.will = will;
  }

  /** Session Expiry Interval in seconds as agreed; undefined = never expires. */
  get sessionExpirySec(): number | undefined {
    return this.#extras === undefined ? 0 : this.#extras.sessionExpirySec;
  }

  set sessionExpirySec(seconds: number | undefined) {
    if (seconds !== 0 || this.#extras !== undefined) this.extras.sessionExpirySec = seconds;
  }

  get clientReceiveMax(): number {
    return this.#extras === undefined ? 65_535 : this.#extras.clientReceiveMax;
  }

  set clientReceiveMax(max: number) {
    if (max !== 65_535 || this.#extras !== undefined) this.extras.clientReceiveMax = max;
  }

  get clientPacketBytesMax(): number {
    return this.#extras === undefined ? Number.POSITIVE_INFINITY : this.#extras.clientPacketBytesMax;
  }

  set clientPacketBytesMax(max: number) {
    if (max !== Number.POSITIVE_INFINITY || this.#extras !== undefined)
      this.extras.clientPacketBytesMax = max;
  }

  get clientAliasesMax(): number {
    return this.#extras === undefined ? 0 : this.#extras.clientAliasesMax;
  }

  set clientAliasesMax(max: number) {
    if (max !== 0 || this.#extras !== undefined) this.extras.clientAliasesMax = max;
  }

  /** The enhanced authentication it connected with (./auth.ts); undefined for user name and password. */
  get authentication(): Authentication | undefined {
    return this.#extras?.authentication;
  }

  set authentication(authentication: Authentication | undefined) {
    if (authentication !== undefined || this.#extras !== undefined)
      this.extras.authentication = authentication;
  }

  /** Publishes waiting for `inboundPending` to drop (3.1/3.1.1 back-pressure, see inbound.ts). */
  get inboundWaiters(): Array<() => void> {
    const extras = this.extras;
    extras.inboundWaiters ??= [];
    return extras.inboundWaiters;
  }

  /** The transport is read while nothing holds it. */
  holdReading(reason: keyof typeof holdBits, held: boolean): void {
    const before = this.#holds;
    this.#holds = held ? before | holdBits[reason] : before & ~holdBits[reason];
    if (this.state === 'closed') return;
    if (before === 0 && this.#holds !== 0) this.transport.pause();
    else if (before !== 0 && this.#holds === 0) this.transport.resume();
  }

  get subscriptions(): SubscriptionTable {
    this.#subscriptions ??= new SubscriptionTable();
    return this.#subscriptions;
  }

  get sharedConsumers(): Map<string, Consumer> {
    const extras = this.extras;
    extras.sharedConsumers ??= new Map();
    return extras.sharedConsumers;
  }

  get inboundAliases(): Map<number, string> {
    const extras = this.extras;
    extras.inboundAliases ??= new Map();
    return extras.inboundAliases;
  }

  get outboundAliases(): Map<string, number> {
    const extras = this.extras;
    extras.outboundAliases ??= new Map();
    return extras.outboundAliases;
  }

  get outbound(): Map<number, OutboundEntry> {
    this.#outbound ??= new Map();
    return this.#outbound;
  }

  /** Delivery id → packet id of messages sent before a reconnect, reused when they come again (§4.4). */
  get resend(): Map<number, number> {
    this.#resend ??= new Map();
    return this.#resend;
  }

  /** Packet ids of `resend`, not to be given to new messages meanwhile. */
  get reserved(): Set<number> {
    this.#reserved ??= new Set();
    return this.#reserved;
  }

  /** CONNACK sent: full-size packets from now on, and the bytes held leave the unauthenticated share. */
  loggedIn(): void {
    this.#reader.packetBytesMax = this.server.limits.packetBytesMax;
    this.account.authenticate();
  }

  /** Holder of the connection's unacked deliveries in core, within this connection. */
  get owner(): string {
    return this.clientId;
  }

  /** This client's way into core; it exists from the moment CONNECT was accepted. */
  get core(): CoreClient {
    assert(this.#core !== undefined, 'core used before CONNECT was accepted');
    return this.#core;
  }

  /**
   * The front end's own way into core for this connection's session machinery, under the same
   * connection id: what it does was decided on `core` first, or is the session's own. Made on first
   * use (a consumer, a shared subscription, a retained replay): a client that never subscribes needs none.
   */
  get plumbing(): CoreClient {
    const extras = this.extras;
    if (extras.plumbing === undefined) {
      const { vhost, connectionId, protocol, peerAddress } = this.core.context;
      const context = { principal: internalPrincipal, vhost, connectionId, protocol, peerAddress };
      extras.plumbing = this.server.core.connect(context);
    }
    return extras.plumbing;
  }

  /** Called once, when CONNECT is accepted: the logged-in user's (or the anonymous one's). */
  attachCore(core: CoreClient): void {
    assert(this.#core === undefined, 'CONNECT accepted twice');
    this.#core = core;
  }

  /** Undefined until CONNECT was accepted. */
  get coreIfAttached(): CoreClient | undefined {
    return this.#core;
  }

  receive(chunk: Buffer): void {
    if (this.state === 'closed') return;
    const result = this.#reader.push(chunk);
    for (const frame of result.frames) {
      if (this.isClosed()) return;
      const checked = this.check(frame);
      if (checked === undefined) return;
      // Before CONNECT was read the version is not known; a CONNECT decodes alike in any parser.
      const packet = Buffer.isBuffer(checked)
        ? (decodeWhole(checked, this.version) as Inbound | Error)
        : checked;
      if (packet instanceof Error) this.fail(Reason.malformed, packet.message);
      else this.accept(packet, frame.length);
    }
    this.recount();
    if (result.kind === 'error') this.fail(result.reason, result.message);
    else if (this.session !== undefined) this.#lastPacketMs = this.server.core.clock.now();
    if (this.transport.bufferedBytes > this.server.limits.writeBufferBytesMax) this.holdForAnswers();
  }

  /**
   * The client does not read what it is answered (PINGRESP, PUBACK, SUBACK…): nothing more is read
   * until the socket drains, so a client that sends and never reads cannot grow the write buffer.
   */
  private holdForAnswers(): void {
    this.holdReading('answers', true);
    if (watchingAnswers.has(this)) return;
    watchingAnswers.add(this);
    this.transport.onDrain(() => this.answersTaken());
  }

  answersTaken(): void {
    if (this.transport.bufferedBytes <= this.server.limits.writeBufferBytesMax)
      this.holdReading('answers', false);
  }

  /**
   * The frame for `mqtt-packet` to decode, a PUBLISH already decoded, or undefined when byte-level
   * checks closed the connection.
   */
  private check(frame: Buffer): Buffer | Inbound | undefined {
    const header = readHeader(frame);
    assert(typeof header === 'object', 'the frame reader passes whole packets only');
    let checked: ConnectFacts | Violation | PublishIn | undefined;
    if (this.state === 'new') {
      if (frame[0]! >> 4 !== connectType) return frame;
      checked = checkConnect(frame, header.headerBytes);
    } else {
      // A packet of more filters than a session may hold cannot be granted, and each costs the loop.
      checked = checkPacket(frame, header.headerBytes, this.version, this.server.limits.subscriptionsMax);
      // A checked bare acknowledgement needs no parser: its packet id is all it says.
      if (checked === undefined && frame.length === 4) return bareAck(frame) ?? frame;
      if (checked === undefined && frame.length === 2) return bareControl(frame, this.version) ?? frame;
    }
    if (checked === undefined) return frame;
    if ('cmd' in checked) return checked;
    if ('frame' in checked) {
      this.#connectFacts = checked;
      return checked.version === 5 ? checked.frame : decodeConnect311(checked.frame, header.headerBytes);
    }
    if (checked.connackReturnCode !== undefined) {
      this.transport.write(Buffer.from([0x20, 0x02, 0x00, checked.connackReturnCode]));
      this.close();
    } else if (checked.quiet === true) this.close();
    else this.fail(checked.reason, checked.message);
    return undefined;
  }

  send(packet: Packet): void {
    if (this.state === 'closed') return;
    const short = this.version === 5 ? shortForm(packet) : ackForm311(packet);
    this.transport.write(short ?? mqttPacket.generate(packet, { protocolVersion: this.version }));
  }

  /** Closes after a protocol or malformed-packet error; v5 clients are told why (§4.13). */
  fail(reason: number, message: string): void {
    if (this.state === 'closed') return;
    this.server.logger.debug({ connection: this.id, reason, message }, 'mqtt connection failed');
    if (this.version === 5 && this.state === 'connected') {
      // Reason code only: the reason is logged above, and a bare DISCONNECT fits any Maximum Packet Size.
      this.send({ cmd: 'disconnect', reasonCode: reason });
    }
    this.close();
  }

  /**
   * Closes the connection. With a reason, it is an operator's close (core's registry of connections):
   * a v5 client is told DISCONNECT 0x98 Administrative action, a 3.1.1 one sees the socket close.
   */
  close(reason?: string): void {
    if (reason !== undefined) {
      this.fail(Reason.administrativeAction, reason);
      return;
    }
    if (this.state === 'closed') return;
    this.transport.end();
    this.closed();
  }

  /** The transport closed (or we closed it): release everything once. */
  closed(): void {
    if (this.state === 'closed') return;
    const wasConnected = this.state === 'connected';
    this.state = 'closed';
    const extras = this.#extras;
    extras?.gone?.abort();
    this.account.close();
    if (extras?.backlog !== undefined) extras.backlog.length = 0;
    this.server.keepAlive.cancel(this);
    extras?.expiryTimer?.cancel();
    this.server.untrack(this);
    if (wasConnected) onClosed(this);
  }

  private isClosed(): boolean {
    return this.state === 'closed';
  }

  takeOver(): void {
    this.fail(Reason.sessionTakenOver, 'session taken over');
  }

  shutdown(): void {
    this.will = undefined;
    this.fail(Reason.serverShuttingDown, 'server shutting down');
  }

  /** Keep-alive: 1.5 × the agreed interval without a packet closes the connection (§3.1.2.10). */
  startKeepAlive(seconds: number): void {
    this.server.keepAlive.cancel(this);
    this.#lastPacketMs = this.clock.now();
    if (seconds > 0) this.armKeepAlive(seconds * 1500, seconds * 1500);
  }

  /**
   * Fails the connection after `waitMs`, unless a packet came since, `idleMsMax` being how long one
   * may be silent then (0 for the CONNECT deadline, which no packet renews).
   */
  private armKeepAlive(waitMs: number, idleMsMax: number): void {
    this.#idleMsMax = idleMsMax;
    this.server.keepAlive.set(this, waitMs);
  }

  /** The keep-alive wheel's call at the deadline: silent too long, or looked at again later. */
  keepAliveDue(): void {
    const idleMs = this.clock.now() - this.#lastPacketMs;
    if (idleMs < this.#idleMsMax) this.server.keepAlive.set(this, this.#idleMsMax - idleMs);
    else if (this.takingAnswers()) this.server.keepAlive.set(this, this.#idleMsMax);
    else this.fail(Reason.keepAliveTimeout, 'keep alive timeout');
  }

  /**
   * Held for its answers (`holdForAnswers`), the client is not read, so its PINGREQs are not seen:
   * while its socket takes bytes since the last look (a large message on a slow link), it is there.
   * One that takes none is timed out as one that sends none.
   */
  private takingAnswers(): boolean {
    if ((this.#holds & holdBits.answers) === 0 || this.#idleMsMax === 0) return false;
    const taken = (this.transport.octets?.().written ?? 0) - this.transport.bufferedBytes;
    const progressed = taken > this.#takenAtLook;
    this.#takenAtLook = taken;
    return progressed;
  }

  expireAt(atMs: number | undefined): void {
    this.#extras?.expiryTimer?.cancel();
    if (this.#extras !== undefined) this.#extras.expiryTimer = undefined;
    if (atMs === undefined || this.state === 'closed') return;
    const clock = this.clock;
    this.extras.expiryTimer = clock.setTimeout(() => {
      this.server.logger.info(
        { connection: this.id, clientId: this.clientId },
        'mqtt token expired; closing',
      );
      this.fail(Reason.notAuthorized, 'token expired');
    }, atMs - clock.now());
  }

  /** QoS 0 acks held while the socket is congested; made, with the drain listener, at the first. */
  deferAck(queue: string, deliveryId: number): void {
    const extras = this.extras;
    if (extras.deferredAcks === undefined) {
      extras.deferredAcks = [];
      this.transport.onDrain(() => this.flushAcks());
    }
    extras.deferredAcks.push([queue, deliveryId]);
  }

  /** Acks QoS 0 deliveries held back while the socket was congested. */
  flushAcks(): void {
    const acks = this.#extras?.deferredAcks?.splice(0) ?? [];
    for (const [queue, id] of acks) this.core.ack(queue, id);
  }

  private accept(packet: Inbound, bytes: number): void {
    if (this.state === 'closed') return;
    if (this.#busy) {
      // Nothing more is read until the handler is done: a pipelining client cannot grow the backlog.
      const extras = this.extras;
      extras.backlog ??= [];
      extras.backlog.push([packet, bytes]);
      extras.backlogBytes += bytes;
      this.holdReading('backlog', true);
      return;
    }
    this.run(packet);
  }

  /** Tells the budget what is held now: the partial packet in the reader and the backlog. */
  private recount(): void {
    if (this.state === 'closed') return;
    const extras = this.#extras;
    const held =
      this.#reader.bufferedBytes +
      (extras === undefined ? 0 : extras.backlogBytes + extras.transportHeldBytes);
    if (held > this.#heldBytes) this.account.add(held - this.#heldBytes);
    else this.account.remove(this.#heldBytes - held);
    this.#heldBytes = held;
  }

  private run(packet: Inbound): void {
    let pending: Promise<void> | undefined;
    try {
      pending = this.dispatch(packet);
    } catch (err) {
      this.failWith(err);
      return;
    }
    if (pending === undefined) return;
    this.#busy = true;
    pending.then(
      () => this.resumeBacklog(),
      (err: unknown) => {
        this.failWith(err);
        this.resumeBacklog();
      },
    );
  }

  private resumeBacklog(): void {
    this.#busy = false;
    const backlog = this.#extras?.backlog;
    if (backlog !== undefined) {
      while (!this.#busy && backlog.length > 0 && this.state !== 'closed') {
        if (++this.#backlogRun > backlogPacketsPerTurnMax) {
          this.yieldBacklog();
          return;
        }
        const [packet, bytes] = backlog.shift()!;
        this.#extras!.backlogBytes -= bytes;
        this.run(packet);
      }
      if (backlog.length > 0) return;
    }
    this.recount();
    this.holdReading('backlog', false);
  }

  /** Goes on with the backlog after the event loop's other work; packets arriving meanwhile queue behind. */
  private yieldBacklog(): void {
    this.#busy = true;
    setImmediate(() => {
      this.#backlogRun = 0;
      this.resumeBacklog();
    });
  }

  private failWith(err: unknown): void {
    if (err instanceof ProtocolViolation) {
      this.fail(err.reason, err.message);
      return;
    }
    // Closed meanwhile (a takeover ended its session): the handler's failure follows from that.
    if (this.state === 'closed') {
      this.server.logger.debug({ err, connection: this.id }, 'mqtt handler failed after the close');
      return;
    }
    this.server.logger.warn({ err, connection: this.id }, 'mqtt handler failed');
    this.fail(Reason.unspecified, err instanceof Error ? err.message : String(err));
  }

  private dispatch(packet: Inbound): Promise<void> | undefined {
    if (this.state === 'new') {
      if (packet.cmd !== 'connect')
        throw new ProtocolViolation(Reason.protocolError, 'first packet must be CONNECT');
      const facts = this.#connectFacts;
      this.#connectFacts = undefined;
      return handleConnect(this, packet, facts);
    }
    if (packet.cmd === 'connect') throw new ProtocolViolation(Reason.protocolError, 'second CONNECT');
    if (this.state === 'connecting') return handleAuthenticating(this, packet);
    return this.handlers(packet);
  }

  private handlers(packet: Inbound): Promise<void> | undefined {
    if (this.repeatedPubrec(packet)) return undefined;
    switch (packet.cmd) {
      case 'publish':
        return handlePublish(this, packet);
      case 'puback':
        return handlePuback(this, packet);
      case 'pubrec':
        return handlePubrec(this, packet);
      case 'pubrel':
        return handlePubrel(this, packet);
      case 'pubcomp':
        return handlePubcomp(this, packet);
      case 'subscribe':
        return handleSubscribe(this, packet);
      case 'unsubscribe':
        return handleUnsubscribe(this, packet);
      case 'pingreq':
        this.send({ cmd: 'pingresp' });
        return undefined;
      case 'disconnect':
        return this.disconnect(packet);
      case 'auth':
        return handleReauthentication(this, packet);
      default:
        throw new ProtocolViolation(Reason.protocolError, `unexpected ${packet.cmd} packet`);
    }
  }

  /**
   * Acknowledgements must follow the message's flow (§4.3.2, §4.3.3): PUBACK for QoS 1, PUBREC then
   * PUBCOMP for QoS 2; any other kind for a packet id in flight is a protocol error. A PUBREC
   * repeated after our PUBREL gets the PUBREL again. Unknown packet ids go on to the handlers.
   */
  private repeatedPubrec(packet: Inbound): boolean {
    if (packet.cmd !== 'puback' && packet.cmd !== 'pubrec' && packet.cmd !== 'pubcomp') return false;
    const entry = this.outbound.get(packet.messageId!);
    if (entry?.qos === undefined) return false;
    const fits =
      packet.cmd === 'puback'
        ? entry.qos === 1
        : entry.qos === 2 && (packet.cmd === 'pubrec' || entry.stage === 'pubrel');
    if (!fits)
      throw new ProtocolViolation(Reason.protocolError, `${packet.cmd} for a QoS ${entry.qos} message`);
    if (packet.cmd !== 'pubrec' || entry.stage !== 'pubrel') return false;
    this.send({ cmd: 'pubrel', messageId: packet.messageId! });
    return true;
  }

  /**
   * DISCONNECT (§3.14): a normal one drops the will [MQTT-3.14.4-3], 0x04 keeps it; a new session
   * expiry may replace the agreed one, but not one of 0 [MQTT-3.14.2-2].
   */
  private disconnect(packet: Extract<Packet, { cmd: 'disconnect' }>): undefined {
    const expiry = packet.properties?.sessionExpiryInterval;
    if (expiry !== undefined) {
      if (this.sessionExpirySec === 0 && expiry !== 0) {
        throw new ProtocolViolation(Reason.protocolError, 'session expiry set after connecting with 0');
      }
      this.sessionExpirySec =
        expiry === 0xffff_ffff ? undefined : Math.min(expiry, this.server.limits.sessionExpirySecMax);
    }
    if ((packet.reasonCode ?? 0) !== 0x04) this.will = undefined;
    // [MQTT-3.14.4-1]: the client closes after its DISCONNECT, so nothing more is read from it.
    this.transport.leave();
    this.closed();
    return undefined;
  }
}
