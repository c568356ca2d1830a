/**
 * One client connection. Frames are split on their size prefix and handled strictly one after
 * another, in arrival order; a handler may finish its work later (a durable append, a long-poll,
 * a group barrier) without holding up the next request, but responses are still written in request
 * order, as pipelining clients require (kafka-python sends ApiVersions and Metadata back to back).
 * Anything the broker cannot read closes the connection; it never takes the process down.
 */
import type { Buffer } from 'node:buffer';
import type { ConnectionDescription, CoreClient } from '../../core/api.js';
import type { Principal } from '../../core/entry/context.js';
import { assert } from '../../shared/assert.js';
import type { Clock } from '../../shared/clock.js';
import { isBrokerError } from '../../shared/errors.js';
import type { Mutable } from '../../shared/types.js';
import { describeConnection } from '../described.js';
import type { IngressAccount } from '../ingress.js';
import { gatherWrites, type Transport } from '../transport.js';
import { anonymousPrincipal, ConnectionAcls } from './acls.js';
import { produceUnderAlarm } from './alarms.js';
import { FrameLease } from './buffer-pool.js';
import {
  ApiKey,
  decodeMessage,
  decodeRequestHeader,
  encodeUsualProduceResponse,
  entryBudget,
  FrameSplitter,
  frameResponsePieces,
  isKafkaCodecError,
  KafkaCodecReason,
  KafkaReader,
  kafkaApiByKey,
  type MessageSchema,
  type ProduceRequest,
  type RequestHeader,
  writeMessage,
} from './codec/index.js';
import { type ApiHandler, type KafkaBroker, Later, type Reply, type RequestContext } from './context.js';
import { KafkaError } from './errors.js';
import { FetchBytesHeld } from './fetch-bytes.js';
import { afterWrite } from './handlers/fetch.js';
import { apiVersionsFallback, handlers } from './handlers/index.js';
import { SaslSession } from './sasl.js';
import type { SaslLogin } from './sasl-mechanism.js';
import { TxnOrder, type TxnRequest, txnRequestOf } from './txn-order.js';

/** Produce requests at least this large that arrive in pieces are assembled in pooled buffers. */
const pooledFrameBytesMin = 256 * 1024;

/** Requests one turn of the pump handles at most before it yields the event loop (see `#pump`). */
const requestsPerTurnMax = 64;
/** And the time it spends at most, measured between requests. */
const turnMsMax = 2;

/** Resolves in the check phase of this event-loop turn, after the gathered writes queued before it. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** One request on its way to its handler. */
interface Call {
  readonly header: RequestHeader;
  readonly handler: ApiHandler;
  readonly response: MessageSchema;
  readonly ctx: RequestContext;
  readonly request: object;
}

/** The body of an answer still being worked out. */
const unsettled = Symbol('unsettled');

/** The handler's promise failed: the connection closes when this answer's turn comes. */
class HandlerFailure {
  readonly err: unknown;
  constructor(err: unknown) {
    this.err = err;
  }
}

/** Bytes written as they are: a bare SASL token's answer. */
class RawAnswer {
  readonly pieces: readonly Uint8Array[];
  constructor(pieces: readonly Uint8Array[]) {
    this.pieces = pieces;
  }
}

/** An answer owed to the client; a `RawAnswer` has no header or schema. */
interface Owed {
  readonly header: RequestHeader | undefined;
  readonly version: number;
  readonly schema: MessageSchema | undefined;
  body: object | null | HandlerFailure | RawAnswer | typeof unsettled;
}

function unmapped(address: string | undefined): string {
  if (address === undefined) return '127.0.0.1';
  return address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
}

/** Who a new connection is before any login, and how it becomes someone else. */
export interface ConnectionSetup {
  /** Core's id of the connection (`kafka-<n>`). */
  readonly connectionId: string;
  /** Without SASL: the anonymous principal it acts as. On a SASL port: one allowed nothing. */
  readonly principal: Principal;
  /** Set on a SASL port: the connection authenticates before anything else. */
  readonly sasl: boolean;
}

export class KafkaConnection {
  readonly #transport: Transport;
  readonly #broker: KafkaBroker;
  readonly #splitter: FrameSplitter;
  readonly #queue: Uint8Array[] = [];
  /** The frames of `#queue` assembled in pooled buffers, by frame. */
  readonly #leases = new WeakMap<Uint8Array, FrameLease>();
  #pumping = false;
  #closed = false;
  #unanswered = 0;
  /** Answers owed, in request order: the head is written once its body is known (`#writeAnswers`). */
  readonly #answers: Owed[] = [];
  /**
   * The socket holds more than `outboundBytesMax` unsent: no answer is written, no request handled
   * and nothing read until it drains (a client that does not read its answers slows only itself).
   */
  #awaitingDrain = false;
  /** Set by `#endAfterReplies`: the transport ends once every answer owed is written. */
  #endOnceAnswered = false;
  /** Aborted on close: a Produce held by a resource alarm is dropped, never appended late. */
  readonly #closing = new AbortController();
  /** This connection's share of the ingress budget: the partial frame and the requests queued. */
  readonly #account: IngressAccount;
  #heldBytes = 0;
  /** Bytes of the frames in `#queue`, size prefixes included. */
  #queuedBytes = 0;
  #budgetPaused = false;
  /** Logged in: SASL authentication done, or without SASL the first request handled. */
  #admitted = false;
  /** The handshake deadline, then the idle check, on core's clock (tests: ManualClock). */
  readonly #clock: Clock;
  #timer: ReturnType<Clock['setTimeout']> | undefined;
  /** When input last came; the idle check looks at it rather than being re-armed per chunk. */
  #lastInputMs = 0;
  readonly #connectionId: string;
  /** Acts as the connection's principal; replaced at each SASL login. */
  #client: CoreClient;
  #kafkaPrincipal = anonymousPrincipal;
  readonly #sasl: SaslSession | undefined;
  /** Its last answer is on its way: nothing more is read, and it closes once that is written. */
  #ending = false;
  readonly #acls: ConnectionAcls;
  /** The last context made without a pooled frame (`#context`). */
  #lastContext: RequestContext | undefined;
  readonly #fetchBytes: FetchBytesHeld;
  readonly #txnOrder = new TxnOrder();
  /** The client id of its latest request (operators see it in `/api/connections`). */
  clientId = '';
  #addresses: { advertisedHost: string; advertisedPort: number; clientHost: string } | undefined;

  constructor(transport: Transport, broker: KafkaBroker, setup: ConnectionSetup) {
    // Answers finished in one turn (pipelined produce requests) leave in one write.
    this.#transport = gatherWrites(transport);
    this.#broker = broker;
    this.#connectionId = setup.connectionId;
    this.#client = this.#clientFor(setup.principal);
    this.#sasl = setup.sasl
      ? new SaslSession({
          mechanisms: broker.saslMechanisms,
          sessionLifetimeMs: broker.options.saslSessionLifetimeMs,
          clock: broker.core.clock,
          peer: { remoteAddress: transport.remoteAddress, signal: this.#closing.signal },
          accept: (login) => this.#accept(login),
        })
      : undefined;
    const { frameBytesMax, handshakeFrameBytesMax, handshakeTimeoutMs } = broker.options;
    this.#splitter = new FrameSplitter(
      Math.min(frameBytesMax, handshakeFrameBytesMax),
      (size, apiKey, whole) => this.#lend(size, apiKey, whole),
    );
    this.#account = broker.ingress.open({
      pause: () => this.#budgetHold(true),
      resume: () => this.#budgetHold(false),
      evict: () => this.close(),
    });
    this.#clock = broker.core.clock;
    this.#acls = new ConnectionAcls(broker, unmapped(transport.remoteAddress), () => this.#client);
    this.#fetchBytes = new FetchBytesHeld(broker.options.fetchBytesHeldMax);
    this.#timer = this.#clock.setTimeout(
      () => this.#expired('no request within the handshake timeout'),
      handshakeTimeoutMs,
    );
    const transient = transport.sharedReads === true;
    transport.attach({
      data: (chunk) => this.#onData(chunk, transient),
      closed: () => this.close(),
      readTarget: () => this.#splitter.readTarget(),
    });
  }

  /** The core client the connection acts through now (tests, and counting the connection). */
  get client(): CoreClient {
    return this.#client;
  }

  close(): void {
    if (this.#release()) this.#transport.destroy();
  }

  /** Everything but the transport; false when already done. */
  #release(): boolean {
    if (this.#closed) return false;
    this.#closed = true;
    this.#timer?.cancel();
    this.#closing.abort();
    this.#queue.length = 0;
    this.#account.close();
    return true;
  }

  /** Reads nothing more; closes once every answer queued so far is written (a refused login's). */
  #endAfterReplies(): void {
    this.#ending = true;
    this.#queue.length = 0;
    this.#transport.pause();
    this.#endOnceAnswered = true;
    this.#writeAnswers();
  }

  #clientFor(principal: Principal): CoreClient {
    return this.#broker.core.connect({
      principal,
      vhost: this.#broker.options.vhost,
      connectionId: this.#connectionId,
      protocol: 'kafka',
      peerAddress: this.#transport.remoteAddress ?? '',
    });
  }

  /**
   * A SASL exchange succeeded: the connection acts as that user from now on, once it may work in the
   * vhost (and, at its first login, the vhost's and user's connection limits allow it).
   */
  /** What operators see of it in `/api/connections`. */
  description(): ConnectionDescription {
    return describeConnection(this.#transport, {
      protocol: 'Kafka',
      clientId: () => this.clientId,
      // Kafka has no word for it: an operator's close is the socket's.
      close: () => this.close(),
    });
  }

  #accept(login: SaslLogin): string | undefined {
    // Gone while its login was checked: nothing may be counted for it now.
    if (this.#closed) return 'the connection closed';
    const client = this.#clientFor(login.principal);
    try {
      client.checkVhostAccess();
      if (!this.#admitted) client.openConnection(this.description());
    } catch (err) {
      if (!isBrokerError(err)) throw err;
      return err.message;
    }
    this.#client = client;
    this.#kafkaPrincipal = `User:${login.principal.user}`;
    if (!this.#admitted) this.#admit();
    return undefined;
  }

  /** `transient`: the chunk is a shared read buffer's, reused once this returns (`Transport.sharedReads`). */
  #onData(chunk: Buffer, transient: boolean): void {
    if (this.#closed || this.#ending) return;
    if (this.#admitted) this.#lastInputMs = this.#clock.now();
    try {
      for (const frame of this.#splitter.push(chunk, transient)) {
        this.#queue.push(frame);
        this.#queuedBytes += frame.byteLength + 4;
      }
    } catch (err) {
      this.#broker.logger.warn({ err }, 'kafka: unreadable frame; closing the connection');
      this.close();
      return;
    }
    // A whole first request arrived in time: the handshake deadline is met (it was not for answering).
    // On a SASL port the deadline holds until the login.
    if (!this.#admitted && this.#sasl === undefined && this.#queue.length > 0) this.#timer?.cancel();
    // The pump takes the first request at once: a request that arrived whole is never counted as held.
    void this.#pump();
    this.#recount();
    this.#pressure();
  }

  /** Tells the budget what is held now: the partial frame and the queued requests. */
  #recount(): void {
    const held = this.#splitter.bufferedBytes + this.#queuedBytes;
    if (held > this.#heldBytes) this.#account.add(held - this.#heldBytes);
    else this.#account.remove(this.#heldBytes - held);
    this.#heldBytes = held;
  }

  #budgetHold(held: boolean): void {
    this.#budgetPaused = held;
    this.#pressure();
  }

  /** Reading pauses while too many requests wait for their answers, or the ingress budget is spent. */
  #pressure(): void {
    const busy = this.#unanswered + this.#queue.length >= this.#broker.options.inflightRequestsMax;
    const hold = busy || this.#budgetPaused || this.#awaitingDrain;
    if (hold) this.#transport.pause();
    else if (!this.#closed) this.#transport.resume();
  }

  /** The first request went through: full-size requests from now on, and an idle timeout instead. */
  #admit(): void {
    this.#admitted = true;
    this.#splitter.frameBytesMax = this.#broker.options.frameBytesMax;
    this.#account.authenticate();
    this.#timer?.cancel();
    this.#lastInputMs = this.#clock.now();
    this.#armIdle(this.#broker.options.idleTimeoutMs);
  }

  #armIdle(waitMs: number): void {
    this.#timer = this.#clock.setTimeout(() => this.#idleCheck(), waitMs);
  }

  /** Closes after `idleTimeoutMs` without input; a connection still owed an answer is not idle. */
  #idleCheck(): void {
    const { idleTimeoutMs } = this.#broker.options;
    const idleMs = this.#clock.now() - this.#lastInputMs;
    if (this.#unanswered > 0 || this.#queue.length > 0 || this.#pumping) this.#armIdle(idleTimeoutMs);
    else if (idleMs < idleTimeoutMs) this.#armIdle(idleTimeoutMs - idleMs);
    else this.#expired('idle');
  }

  #expired(why: string): void {
    if (this.#closed) return;
    this.#broker.logger.debug(
      { remote: this.#transport.remoteAddress },
      `kafka: ${why}; closing the connection`,
    );
    this.close();
  }

  /**
   * Handles queued requests one after another. A read of many pipelined requests is handled in
   * slices of at most `requestsPerTurnMax` requests or `turnMsMax`: between slices the pump yields
   * the event loop, so the answers gathered so far are written and other connections are served,
   * rather than the whole read waiting for its last request.
   */
  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      let sliceStartMs = performance.now();
      let sliceRequests = 0;
      while (!this.#closed && !this.#ending && !this.#awaitingDrain) {
        const frame = this.#queue.shift();
        if (frame === undefined) break;
        this.#queuedBytes -= frame.byteLength + 4;
        this.#recount();
        const lease = this.#leases.get(frame);
        // Most requests are handled within the call: awaiting them anyway cost each a suspended frame.
        const later = this.#handle(frame, lease);
        if (later !== undefined) await later;
        // Only after a normal return: a request that failed may still be referenced, so it is not reused.
        lease?.done();
        if (!this.#admitted && !this.#closed && this.#sasl === undefined) this.#admit();
        if (++sliceRequests >= requestsPerTurnMax || performance.now() - sliceStartMs >= turnMsMax) {
          this.#pressure();
          await nextTurn();
          sliceStartMs = performance.now();
          sliceRequests = 0;
        }
      }
    } catch (err) {
      this.#broker.logger.error({ err }, 'kafka: request failed; closing the connection');
      this.close();
    } finally {
      this.#pumping = false;
      // Reading paused for a full queue resumes as it drains: requests answered within the call
      // settle nothing (`#settled`) that would resume it, and the rest of a pipelined burst waited
      // unread until the idle timeout closed the connection.
      if (!this.#closed) this.#pressure();
    }
  }

  /**
   * A pooled buffer for a large Produce request: assembling each in fresh memory cost more than the
   * rest of its handling (docs/performance.md, Kafka). Only Produce: its handler says who keeps views
   * of the request's bytes (`RequestContext.frame`). A request not yet `whole` (read in place) gets only
   * a buffer the pool holds free, so announcing a size allocates nothing.
   */
  #lend(size: number, apiKey: number, whole: boolean): Buffer | undefined {
    if (apiKey !== ApiKey.Produce || size < pooledFrameBytesMin || !this.#admitted) return undefined;
    const lease = FrameLease.take(size, whole);
    if (lease === undefined) return undefined;
    this.#leases.set(lease.bytes, lease);
    return lease.bytes;
  }

  /** Undefined once handled; a promise when the request waits for something first (its reply, an earlier one). */
  #handle(frame: Uint8Array, lease?: FrameLease): Promise<void> | void {
    if (this.#sasl?.expectsTokens === true) return this.#token(frame);
    const reader = new KafkaReader(frame);
    let header: RequestHeader;
    try {
      header = decodeRequestHeader(reader);
    } catch (err) {
      this.#broker.logger.warn({ err }, 'kafka: unreadable request header; closing the connection');
      return this.close();
    }
    const { requestApiKey: apiKey, requestApiVersion: version } = header;
    const admission = this.#sasl?.admit(apiKey);
    if (admission?.kind === 'close') return this.#expired(admission.why);
    const handler = handlers.get(apiKey);
    const api = kafkaApiByKey.get(apiKey);
    if (
      apiKey === ApiKey.ApiVersions &&
      (handler === undefined || version > handler.versionMax || version < 0)
    ) {
      return this.#respond(header, 0, apiVersionsFallback(KafkaError.unsupportedVersion));
    }
    if (
      handler === undefined ||
      api === undefined ||
      version < handler.versionMin ||
      version > handler.versionMax
    ) {
      this.#broker.logger.warn(
        { apiKey, version },
        'kafka: unsupported api key or version; closing the connection',
      );
      return this.close();
    }
    let request: object;
    reader.budget = entryBudget(this.#broker.options.requestEntriesMax);
    try {
      request = decodeMessage(api.request, reader, version);
    } catch (err) {
      if (apiKey === ApiKey.ApiVersions)
        return this.#respond(header, 0, apiVersionsFallback(KafkaError.invalidRequest));
      if (isKafkaCodecError(err) && err.reason === KafkaCodecReason.tooManyEntries) {
        this.#broker.logger.warn(
          { apiKey, version, requestEntriesMax: this.#broker.options.requestEntriesMax },
          'kafka: request holds more entries than kafkaRequestEntriesMax; closing the connection',
        );
        return this.close();
      }
      this.#broker.logger.warn(
        { err, apiKey, version },
        'kafka: unreadable request body; closing the connection',
      );
      return this.close();
    }
    const call: Call = {
      header,
      handler,
      response: api.response,
      ctx: this.#context(header, lease),
      request,
    };
    const txn = txnRequestOf(apiKey, request);
    const earlier = txn === undefined ? undefined : this.#txnOrder.before(txn.id);
    if (earlier === undefined) return this.#run(call, txn);
    return earlier.then(() => (this.#closed ? undefined : this.#run(call, txn)));
  }

  /** Calls the handler and queues its answer; a promise only when the handler gave one. */
  #run(call: Call, txn: TxnRequest | undefined): Promise<void> | undefined {
    const { header, handler, ctx, request } = call;
    // Awaited, not answered Later: requests behind a held Produce wait too, so offsets keep their order.
    const reply =
      header.requestApiKey === ApiKey.Produce && this.#broker.core.alarms.active().length > 0
        ? produceUnderAlarm(ctx, request as ProduceRequest, this.#closing.signal)
        : handler.handle(ctx, request);
    if (reply instanceof Promise) return reply.then((r: Reply) => this.#replied(call, txn, r));
    this.#replied(call, txn, reply);
    return undefined;
  }

  #replied(call: Call, txn: TxnRequest | undefined, reply: Reply): void {
    if (txn !== undefined && reply instanceof Later) {
      const waitFor = txn.ordersLater ? reply.response : reply.applied;
      if (waitFor !== undefined) this.#txnOrder.track(txn.id, waitFor);
    }
    this.#respond(call.header, call.header.requestApiVersion, reply, call.response);
    if (this.#sasl?.closeAfterReply === true) this.#endAfterReplies();
  }

  /** A bare SASL token after a v0 handshake, answered as one; a failed login closes at once (Kafka). */
  async #token(frame: Uint8Array): Promise<void> {
    const answer = await this.#sasl!.token(Uint8Array.from(frame));
    if (answer === undefined) return this.#expired('SASL authentication failed');
    const size = new Uint8Array(4);
    new DataView(size.buffer).setInt32(0, answer.byteLength);
    this.#answers.push({
      header: undefined,
      version: 0,
      schema: undefined,
      body: new RawAnswer([size, answer]),
    });
    this.#writeAnswers();
  }

  #context(header: RequestHeader, frame: FrameLease | undefined): RequestContext {
    this.clientId = header.clientId ?? '';
    // A context is read-only and all but its version, client id and pooled frame is the connection's:
    // a request like the last one (the usual run of produces) is given the same object, which a
    // handler still holding the last one may share.
    const last = this.#lastContext;
    if (frame === undefined && last !== undefined && this.#sameContext(last, header)) return last;
    // Where this client reached us (the TLS port is advertised to a client of the TLS port) and where
    // it came from: the transport's, worked out once per connection.
    this.#addresses ??= {
      advertisedHost: unmapped(this.#transport.localAddress),
      advertisedPort: this.#transport.localPort ?? 0,
      clientHost: `/${unmapped(this.#transport.remoteAddress)}`,
    };
    const { advertisedHost, advertisedPort, clientHost } = this.#addresses;
    // Built whole and `frame` added after, not spread in: a spread made every request's context
    // (and the empty object spread) anew through the generic copy.
    const ctx: Mutable<RequestContext> = {
      broker: this.#broker,
      client: this.#client,
      kafkaPrincipal: this.#kafkaPrincipal,
      sasl: this.#sasl,
      apiVersion: header.requestApiVersion,
      clientId: header.clientId ?? '',
      advertisedHost,
      advertisedPort,
      clientHost,
      acls: this.#acls,
      fetchBytes: this.#fetchBytes,
      closed: this.#closing.signal,
    };
    if (frame !== undefined) ctx.frame = frame;
    else this.#lastContext = ctx;
    return ctx;
  }

  #sameContext(last: RequestContext, header: RequestHeader): boolean {
    return (
      last.apiVersion === header.requestApiVersion &&
      last.clientId === this.clientId &&
      last.client === this.#client &&
      last.kafkaPrincipal === this.#kafkaPrincipal &&
      last.sasl === this.#sasl
    );
  }

  /** Queues the response behind every earlier one; `reply` null means none is sent (acks=0). */
  #respond(header: RequestHeader, version: number, reply: Reply, schema?: MessageSchema): void {
    const responseSchema = schema ?? kafkaApiByKey.get(ApiKey.ApiVersions)!.response;
    if (!(reply instanceof Later)) {
      this.#answers.push({ header, version, schema: responseSchema, body: reply });
      this.#writeAnswers();
      return;
    }
    const owed: Owed = { header, version, schema: responseSchema, body: unsettled };
    this.#answers.push(owed);
    this.#unanswered += 1;
    reply.response.then(
      (value) => this.#settled(owed, reply.bodyOf(value)),
      (err: unknown) => this.#settled(owed, new HandlerFailure(err)),
    );
  }

  #settled(owed: Owed, body: Owed['body']): void {
    owed.body = body;
    this.#unanswered -= 1;
    this.#pressure();
    this.#writeAnswers();
  }

  /**
   * Writes the answers at the head whose bodies are known, in order, until one is still being worked
   * out or the socket holds more than `outboundBytesMax` unsent; then the pump and reading wait for its
   * drain too. After a close each is still taken off in turn, so what a body holds until written (a
   * fetch's read buffers) is given back.
   */
  #writeAnswers(): void {
    while (!this.#awaitingDrain) {
      const owed = this.#answers[0];
      if (owed === undefined || owed.body === unsettled) break;
      this.#answers.shift();
      // A write refused past the socket's small mark goes on up to the bound: answers are held as the
      // bytes they are, which the bound counts, rather than as bodies waiting to be encoded.
      const written = this.#writeAnswer(owed);
      if (!written && this.#transport.bufferedBytes > this.#broker.options.outboundBytesMax)
        this.#waitForDrain();
    }
    if (this.#endOnceAnswered && this.#answers.length === 0 && !this.#awaitingDrain) {
      this.#endOnceAnswered = false;
      if (!this.#release()) return;
      this.#transport.end();
      // Read on (what comes is dropped), or the peer's own end is never seen and the socket stays open.
      this.#transport.resume();
    }
  }

  #waitForDrain(): void {
    this.#awaitingDrain = true;
    this.#pressure();
    void this.#transport.drained().then(() => {
      this.#awaitingDrain = false;
      this.#writeAnswers();
      if (this.#closed || this.#awaitingDrain) return;
      this.#pressure();
      void this.#pump();
    });
  }

  /** False when the socket asks to wait for its drain before the next. */
  #writeAnswer(owed: Owed): boolean {
    const { header, schema, body } = owed;
    assert(body !== unsettled, 'an answer is written only once its body is known');
    if (body instanceof RawAnswer) return this.#closed || this.#transport.writev(body.pieces);
    if (body instanceof HandlerFailure) {
      this.#broker.logger.error(
        { err: body.err, apiKey: header?.requestApiKey },
        'kafka: handler failed; closing the connection',
      );
      this.close();
      return true;
    }
    const written = body === null ? undefined : (body as { [afterWrite]?: () => void })[afterWrite];
    if (body === null || this.#closed || header === undefined || schema === undefined) {
      written?.();
      return true;
    }
    try {
      // The usual Produce answer is written by hand into one buffer (the schema writer's objects were
      // a tenth of what a produce allocated); any other shape takes the schema writer below.
      const usual =
        header.requestApiKey === ApiKey.Produce
          ? encodeUsualProduceResponse(header.correlationId, owed.version, body)
          : undefined;
      if (usual !== undefined) return this.#transport.write(usual, written);
      // Pruned while written: a handler fills fields its version may not have (no copy of the body made).
      const pieces = frameResponsePieces(header.requestApiKey, owed.version, header.correlationId, (w) =>
        writeMessage(w, schema, body, owed.version, true),
      );
      // Several pieces go out in one writev, so stored batches reach the kernel without being joined first.
      return this.#transport.writev(pieces, written);
    } catch (err) {
      written?.();
      this.#broker.logger.error(
        { err, apiKey: header.requestApiKey },
        'kafka: response not encodable; closing the connection',
      );
      this.close();
      return true;
    }
  }
}
