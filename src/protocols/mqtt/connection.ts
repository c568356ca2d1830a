/**
 * One MQTT network connection: framing, decoding, in-order dispatch to one handler per packet type,
 * and the teardown that hands the session back to the core (deliveries requeued, will scheduled).
 * Handlers that wait (CONNECT, SUBSCRIBE, UNSUBSCRIBE) hold back later packets until they finish, so a
 * client's packets take effect in the order it sent them.
 */
import type { Buffer } from 'node:buffer';
import mqttPacket, { type Packet, type Parser } from 'mqtt-packet';
import type { CoreSession } from '../../core/api.js';
import type { Consumer } from '../../core/types.js';
import { handleConnect } from './connect.js';
import { FrameReader } from './framing.js';
import { handlePublish, handlePubrel } from './inbound.js';
import { Reason } from './limits.js';
import type { SubscriptionEntry } from './model.js';
import { handlePuback, handlePubcomp, handlePubrec } from './outbound.js';
import type { ClientHandle, MqttServer } from './server.js';
import { handleSubscribe, handleUnsubscribe } from './subscribe.js';
import { onClosed, type Will } from './teardown.js';
import type { Transport } from './transport.js';

export type ProtocolVersion = 3 | 4 | 5;

/** A QoS 1/2 message sent and not yet fully acknowledged (§4.3). */
export interface OutboundEntry {
  readonly queue: string;
  readonly deliveryId: number;
  /** 'pubrel': PUBREC received, the message is acked in core, PUBREL sent. */
  stage: 'publish' | 'pubrel';
  /** Counted in the session's stored in-flight map (session-queue deliveries only). */
  readonly stored: boolean;
}

export class ProtocolViolation extends Error {
  readonly reason: number;
  constructor(reason: number, message: string) {
    super(message);
    this.reason = reason;
  }
}

export class Connection implements ClientHandle {
  readonly id: string;
  readonly server: MqttServer;
  readonly transport: Transport;
  version: ProtocolVersion = 4;
  clientId = '';
  state: 'new' | 'connecting' | 'connected' | 'closed' = 'new';
  session: CoreSession | undefined;
  owner = '';
  readonly subscriptions = new Map<string, SubscriptionEntry>();
  sessionConsumer: Consumer | undefined;
  readonly sharedConsumers = new Map<string, Consumer>();
  will: Will | undefined;
  /** Session Expiry Interval in seconds as agreed; undefined = never expires. */
  sessionExpirySec: number | undefined = 0;
  /** A DISCONNECT 0x00 arrived: no will (§3.14.4). */
  normalDisconnect = false;
  /** The broker is closing: no will either. */
  shuttingDown = false;
  clientReceiveMax = 65_535;
  clientPacketBytesMax = Number.POSITIVE_INFINITY;
  clientAliasesMax = 0;
  readonly inboundAliases = new Map<number, string>();
  readonly outboundAliases = new Map<string, number>();
  readonly outbound = new Map<number, OutboundEntry>();
  /** Delivery id → packet id of messages sent before a reconnect, reused when they come again (§4.4). */
  readonly resend = new Map<number, number>();
  /** Packet ids of `resend`, not to be given to new messages meanwhile. */
  readonly reserved = new Set<number>();
  nextPacketId = 1;
  /** Inbound QoS 1 publishes not yet PUBACKed. */
  inboundPending = 0;
  readonly deferredAcks: Array<[string, number]> = [];
  readonly #reader: FrameReader;
  readonly #parser: Parser;
  #keepAliveTimer: NodeJS.Timeout | undefined;
  #busy = false;
  readonly #backlog: Packet[] = [];

  constructor(server: MqttServer, transport: Transport) {
    this.id = server.nextConnectionId();
    this.server = server;
    this.transport = transport;
    this.#reader = new FrameReader(server.limits.packetBytesMax);
    this.#parser = mqttPacket.parser();
    this.#parser.on('packet', (packet: Packet) => this.#accept(packet));
    this.#parser.on('error', (err: Error) => this.fail(Reason.malformed, err.message));
    transport.onDrain(() => this.flushAcks());
    this.#armKeepAlive(server.limits.connectTimeoutMs);
  }

  receive(chunk: Buffer): void {
    if (this.state === 'closed') return;
    const result = this.#reader.push(chunk);
    for (const frame of result.frames) {
      if (this.#isClosed()) return;
      this.#parser.parse(frame);
    }
    if (result.kind === 'error') this.fail(result.reason, result.message);
    else if (this.session !== undefined) this.#keepAliveTimer?.refresh();
  }

  send(packet: Packet): void {
    if (this.state === 'closed') return;
    this.transport.write(mqttPacket.generate(packet, { protocolVersion: this.version }));
  }

  /** Closes after a protocol or malformed-packet error; v5 clients are told why (§4.13). */
  fail(reason: number, message: string): void {
    if (this.state === 'closed') return;
    this.server.logger.debug({ connection: this.id, reason, message }, 'mqtt connection failed');
    if (this.version === 5 && this.state === 'connected') {
      this.send({
        cmd: 'disconnect',
        reasonCode: reason,
        properties: { reasonString: message.slice(0, 200) },
      });
    }
    this.close();
  }

  close(): void {
    if (this.state === 'closed') return;
    this.transport.end();
    this.closed();
  }

  /** The transport closed (or we closed it): release everything once. */
  closed(): void {
    if (this.state === 'closed') return;
    const wasConnected = this.state === 'connected';
    this.state = 'closed';
    clearTimeout(this.#keepAliveTimer);
    this.server.connections--;
    this.server.untrack(this);
    if (wasConnected) onClosed(this);
  }

  #isClosed(): boolean {
    return this.state === 'closed';
  }

  takeOver(): void {
    this.fail(Reason.sessionTakenOver, 'session taken over');
  }

  shutdown(): void {
    this.shuttingDown = true;
    this.fail(Reason.serverShuttingDown, 'server shutting down');
  }

  /** Keep-alive: 1.5 × the agreed interval without a packet closes the connection (§3.1.2.10). */
  startKeepAlive(seconds: number): void {
    clearTimeout(this.#keepAliveTimer);
    this.#keepAliveTimer = undefined;
    if (seconds > 0) this.#armKeepAlive(seconds * 1500);
  }

  #armKeepAlive(ms: number): void {
    this.#keepAliveTimer = setTimeout(() => this.fail(Reason.keepAliveTimeout, 'keep alive timeout'), ms);
    this.#keepAliveTimer.unref();
  }

  /** Acks QoS 0 deliveries held back while the socket was congested. */
  flushAcks(): void {
    const acks = this.deferredAcks.splice(0);
    for (const [queue, id] of acks) this.server.vhost.ack(queue, id);
  }

  #accept(packet: Packet): void {
    if (this.state === 'closed') return;
    if (this.#busy) {
      this.#backlog.push(packet);
      return;
    }
    this.#run(packet);
  }

  #run(packet: Packet): void {
    let pending: Promise<void> | undefined;
    try {
      pending = this.#dispatch(packet);
    } catch (err) {
      this.#failWith(err);
      return;
    }
    if (pending === undefined) return;
    this.#busy = true;
    pending.then(
      () => this.#resume(),
      (err: unknown) => {
        this.#failWith(err);
        this.#resume();
      },
    );
  }

  #resume(): void {
    this.#busy = false;
    while (!this.#busy && this.#backlog.length > 0 && this.state !== 'closed')
      this.#run(this.#backlog.shift()!);
  }

  #failWith(err: unknown): void {
    if (err instanceof ProtocolViolation) {
      this.fail(err.reason, err.message);
      return;
    }
    this.server.logger.warn({ err, connection: this.id }, 'mqtt handler failed');
    this.fail(Reason.unspecified, err instanceof Error ? err.message : String(err));
  }

  #dispatch(packet: Packet): Promise<void> | undefined {
    if (this.state === 'new') {
      if (packet.cmd !== 'connect')
        throw new ProtocolViolation(Reason.protocolError, 'first packet must be CONNECT');
      return handleConnect(this, packet);
    }
    if (packet.cmd === 'connect') throw new ProtocolViolation(Reason.protocolError, 'second CONNECT');
    return this.#handlers(packet);
  }

  #handlers(packet: Packet): Promise<void> | undefined {
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
        return this.#disconnect(packet);
      default:
        throw new ProtocolViolation(Reason.protocolError, `unexpected ${packet.cmd} packet`);
    }
  }

  /** DISCONNECT (§3.14): 0x04 keeps the will; a new session expiry may replace the agreed one. */
  #disconnect(packet: Extract<Packet, { cmd: 'disconnect' }>): undefined {
    const expiry = packet.properties?.sessionExpiryInterval;
    if (expiry !== undefined) {
      if (this.sessionExpirySec === 0 && expiry !== 0) {
        throw new ProtocolViolation(Reason.protocolError, 'session expiry set after connecting with 0');
      }
      this.sessionExpirySec =
        expiry === 0xffff_ffff ? undefined : Math.min(expiry, this.server.limits.sessionExpirySecMax);
    }
    this.normalDisconnect = (packet.reasonCode ?? 0) !== 0x04;
    this.close();
    return undefined;
  }
}
