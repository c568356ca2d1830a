/**
 * The byte pipe under every protocol connection: a TCP socket, a TLS socket or a WebSocket, seen the
 * same way, so a protocol session never knows what carries it. A connection
 * reads by attaching one receiver, writes bytes, and feels back-pressure both ways: `pause`/`resume`
 * stop and restart reading (the peer's sends then back up in TCP), and a write that returns false
 * asks the writer to wait for `drain`.
 *
 * A transport reports errors only by closing: the receiver's `closed` runs once, whichever side
 * ended it and however.
 */
import { Socket as NetSocket, type Socket, type SocketConstructorOpts } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { WebSocket } from 'ws';
import { type TlsState, tlsStateOf } from './tls.js';

/** `memory`: one end of an in-process pair (Broker.accept; testing/transport-pair.ts). */
export type TransportKind = 'tcp' | 'tls' | 'websocket' | 'memory';

/** What a connection gives its transport to hear from it. */
export interface TransportReceiver {
  /** Bytes from the peer, in order. A WebSocket hands on each message whole. */
  data(chunk: Buffer): void;
  /**
   * Bytes read from the network that the transport itself holds and has not handed on: a WebSocket
   * message not yet whole. Called with the new total as it grows and with 0 once the message is
   * handed on, so the connection can count them against the ingress budget. TCP and TLS never call it.
   */
  holding?(bytes: number): void;
  /** The transport is closed, by either side, or failed. Called once; nothing is delivered after it. */
  closed(): void;
  /**
   * On a transport with `sharedReads`: where the next read should land (the rest of a frame being
   * assembled), or undefined for the shared read buffer. A chunk read into memory given here is the
   * receiver's; one in the shared buffer is valid only during its `data` call.
   */
  readTarget?(): Uint8Array | undefined;
}

export interface Transport {
  readonly kind: TransportKind;
  /** The peer's address as node:net reports it (`127.0.0.1`, `::1`, `::ffff:127.0.0.1`). */
  readonly remoteAddress: string | undefined;
  /** Where the peer reached us: the address and port of this end (Kafka advertises them). */
  readonly localAddress: string | undefined;
  readonly localPort: number | undefined;
  /** The peer's port, where there is a socket. */
  readonly remotePort?: number | undefined;
  /** Bytes read and written on the socket so far (TLS and WebSocket framing included), where there is one. */
  octets?(): { readonly read: number; readonly written: number };
  /** Set on a TLS connection (a WebSocket over TLS too): version, cipher and the verified client certificate. */
  readonly tls: TlsState | undefined;
  /**
   * Input is read into one buffer shared by every such connection (or where the receiver's
   * `readTarget` says): a chunk `data` is given lives only until that call returns, so a receiver keeps
   * a copy of what it keeps. Plain TCP listeners that ask for it (`ServeOptions.sharedReads`).
   */
  readonly sharedReads?: boolean;
  /** Starts delivering input to `receiver`; called once. Input that arrives before waits. */
  attach(receiver: TransportReceiver): void;
  /**
   * Queues `data` for the peer. `done` runs once the transport is finished with the bytes (they may
   * then be reused), also when it closed first. False when the writer should wait for `drain`.
   */
  write(data: Uint8Array, done?: () => void): boolean;
  /** Several pieces at once: one system call on a socket. `done` as for `write`, after the last piece. */
  writev(pieces: readonly Uint8Array[], done?: () => void): boolean;
  /** Bytes written and not yet handed to the operating system (or to the peer). */
  readonly bufferedBytes: number;
  /** Runs `listener` each time the written bytes drain; returns a function that stops it. */
  onDrain(listener: () => void): () => void;
  /** Resolves at the next drain, or at once when the transport is closed. */
  drained(): Promise<void>;
  /** Resolves once the transport is closed. */
  whenClosed(): Promise<void>;
  /** Stop reading from the peer until `resume` (input already read is still delivered). */
  pause(): void;
  resume(): void;
  readonly paused: boolean;
  /** Sends what is written, then closes. */
  end(): void;
  /**
   * The peer said goodbye and reads nothing more (MQTT DISCONNECT): as `end`, but a plain socket with
   * nothing left to send is closed at once, without shutting its sending side and waiting for the
   * peer's own end of stream (a system call and a wake-up of the event loop fewer). Elsewhere `end`.
   */
  leave(): void;
  /** Closes at once; what is not yet sent is dropped. */
  destroy(): void;
  readonly closed: boolean;
}

/** Errors are followed by 'close', which is what a transport acts on. */
function ignoreError(): void {}

const closedBit = 1;
const pausedBit = 2;

/** Shared by the socket and WebSocket transports: drain listeners and the `drained` promise. */
abstract class BaseTransport {
  /** `closedBit` and `pausedBit`: one field where two were, on every connection of every protocol. */
  #flags = 0;
  #receiver: TransportReceiver | undefined;
  /** Made with the first listener: most connections never wait for a drain. */
  #drainListeners: Set<() => void> | undefined;
  #closedWaiters: Array<() => void> | undefined;

  get closed(): boolean {
    return (this.#flags & closedBit) !== 0;
  }

  get paused(): boolean {
    return (this.#flags & pausedBit) !== 0;
  }

  protected get receiver(): TransportReceiver | undefined {
    return this.#receiver;
  }

  attach(receiver: TransportReceiver): void {
    if (this.#receiver !== undefined) throw new Error('a transport takes one receiver');
    this.#receiver = receiver;
    if (this.closed) receiver.closed();
    else this.listen(receiver);
  }

  pause(): void {
    if (this.#flags !== 0) return;
    this.#flags |= pausedBit;
    this.stopReading();
  }

  resume(): void {
    if (this.#flags !== pausedBit) return;
    this.#flags = 0;
    this.startReading();
  }

  onDrain(listener: () => void): () => void {
    if (this.#drainListeners === undefined) {
      this.#drainListeners = new Set();
      this.watchDrain();
    }
    const listeners = this.#drainListeners;
    listeners.add(listener);
    return () => listeners.delete(listener);
  }

  drained(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const off = this.onDrain(() => {
        off();
        resolve();
      });
    });
  }

  whenClosed(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.#closedWaiters ??= [];
      this.#closedWaiters.push(resolve);
    });
  }

  protected emitDrain(): void {
    if (this.#drainListeners === undefined) return;
    for (const listener of [...this.#drainListeners]) listener();
  }

  /** The underlying pipe closed: tell the receiver once, and release whoever waits for a drain. */
  protected markClosed(): void {
    if (this.closed) return;
    this.#flags |= closedBit;
    this.emitDrain();
    this.#drainListeners?.clear();
    this.#receiver?.closed();
    for (const resolve of this.#closedWaiters?.splice(0) ?? []) resolve();
  }

  /** The first drain listener came: a transport that learns of drains by listening starts now. */
  protected watchDrain(): void {}

  protected abstract listen(receiver: TransportReceiver): void;
  protected abstract stopReading(): void;
  protected abstract startReading(): void;
}

/**
 * The transport a socket belongs to, for listeners shared by every socket: a closure per socket for
 * 'data' and one for 'close', with their contexts, cost each idle connection about 140 bytes.
 */
const transportOf = Symbol('transport');
type OwnedSocket = Socket & { [transportOf]?: SocketTransport };

function onSocketData(this: OwnedSocket, chunk: Buffer): void {
  this[transportOf]?.socketData(chunk);
}

function onSocketClose(this: OwnedSocket): void {
  this[transportOf]?.socketClosed();
}

/** `SocketTransport.#nagle`: no write yet; one write made; Nagle's algorithm turned off (TCP_NODELAY). */
const nagleUnwritten = 0;
const nagleWrittenOnce = 1;
const nagleOff = 2;

/** A TCP socket, or a TLS socket once its handshake is done. */
class SocketTransport extends BaseTransport implements Transport {
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly tls: TlsState | undefined;
  readonly #socket: Socket;
  /**
   * Nagle's algorithm is off from a plain socket's second write on (`noDelayFromSecondWrite`); a TLS
   * socket turns it off at once: its handshake's last records may still be unacknowledged.
   */
  #nagle: number;

  constructor(socket: Socket, secure: TLSSocket | undefined) {
    super();
    this.#socket = socket;
    this.tls = secure === undefined ? undefined : tlsStateOf(secure);
    this.remoteAddress = socket.remoteAddress;
    this.remotePort = socket.remotePort;
    this.#nagle = secure === undefined ? nagleUnwritten : nagleOff;
    if (secure !== undefined) socket.setNoDelay(true);
    // Errors are followed by 'close'; the receiver hears of both as one.
    socket.on('error', ignoreError);
    (socket as OwnedSocket)[transportOf] = this;
    socket.on('close', onSocketClose);
    if (socket.destroyed) this.markClosed();
  }

  get kind(): TransportKind {
    return this.tls === undefined ? 'tcp' : 'tls';
  }

  /** A prototype's answer, not a field: every idle connection would pay for a field. */
  get sharedReads(): boolean {
    return false;
  }

  /** The socket closed (`onSocketClose`). */
  socketClosed(): void {
    this.markClosed();
  }

  /** Bytes read (`onSocketData`), for the receiver `listen` was given. */
  socketData(chunk: Buffer): void {
    this.receiver?.data(chunk);
  }

  /**
   * Asked of the socket when first wanted (a listing of connections), not at accept: one system call
   * and its cached object fewer for a connection nobody lists. Node keeps the answer once asked.
   */
  get localAddress(): string | undefined {
    return this.#socket.localAddress;
  }

  get localPort(): number | undefined {
    return this.#socket.localPort;
  }

  /** The socket's 'drain' is listened to from the first drain listener: most connections never wait. */
  protected override watchDrain(): void {
    this.#socket.on('drain', () => this.emitDrain());
  }

  octets(): { read: number; written: number } {
    return { read: this.#socket.bytesRead, written: this.#socket.bytesWritten };
  }

  // The receiver is the one `attach` keeps (`receiver`): the shared 'data' listener finds it there.
  // A socket with shared reads was made paused (`sharedReadsTransport`) and hands its reads on itself.
  protected listen(_receiver: TransportReceiver): void {
    if (!this.sharedReads) this.#socket.on('data', onSocketData);
    else if (!this.paused) this.#socket.resume();
  }

  protected stopReading(): void {
    this.#socket.pause();
  }

  protected startReading(): void {
    this.#socket.resume();
  }

  get bufferedBytes(): number {
    return this.#socket.writableLength;
  }

  /**
   * A new plain socket's first write goes out at once with Nagle's algorithm on: nothing of ours is
   * unacknowledged yet, so there is nothing for it to wait for. Turned off before the second write, it
   * never holds a byte, as if it had been off from the accept; a connection that writes once (an MQTT
   * client that connects, reads its CONNACK and leaves) saves the system call that turns it off.
   */
  private noDelayFromSecondWrite(socket: Socket): void {
    if (this.#nagle === nagleOff) return;
    if (this.#nagle === nagleUnwritten) {
      this.#nagle = nagleWrittenOnce;
      return;
    }
    this.#nagle = nagleOff;
    socket.setNoDelay(true);
  }

  write(data: Uint8Array, done?: () => void): boolean {
    const socket = this.#socket;
    if (socket.destroyed || socket.writableEnded) {
      done?.();
      return true;
    }
    this.noDelayFromSecondWrite(socket);
    return done === undefined ? socket.write(data) : socket.write(data, () => done());
  }

  writev(pieces: readonly Uint8Array[], done?: () => void): boolean {
    if (pieces.length === 1) return this.write(pieces[0]!, done);
    const socket = this.#socket;
    if (socket.destroyed || socket.writableEnded) {
      done?.();
      return true;
    }
    // Several pieces are one write: corked, they leave in one system call.
    this.noDelayFromSecondWrite(socket);
    let flowing = true;
    socket.cork();
    const last = pieces.length - 1;
    for (let i = 0; i < last; i++) flowing = socket.write(pieces[i]!);
    // The last write's callback comes after every earlier one's: the socket writes in order.
    flowing = done === undefined ? socket.write(pieces[last]!) : socket.write(pieces[last]!, () => done());
    socket.uncork();
    return flowing;
  }

  end(): void {
    if (!this.#socket.writableEnded) this.#socket.end();
  }

  // TLS keeps `end`: its close_notify is part of a clean close.
  leave(): void {
    if (this.tls === undefined && this.#socket.writableLength === 0) this.#socket.destroy();
    else this.end();
  }

  destroy(): void {
    this.#socket.destroy();
  }
}

/** A plain TCP socket as a transport. */
export function tcpTransport(socket: Socket): Transport {
  return new SocketTransport(socket, undefined);
}

/**
 * Bytes of the buffer every socket with shared reads reads into (Node's own read size). Reads run on
 * the event loop one at a time, and each is handed on before the next, so one buffer serves them all.
 */
const sharedReadBytes = 64 * 1024;
let sharedRead: Buffer | undefined;

function sharedReadBuffer(): Buffer {
  sharedRead ??= Buffer.allocUnsafeSlow(sharedReadBytes);
  return sharedRead;
}

/** The part of `node:net` a moved socket handle needs: the handle field and the read options. */
type AcceptedSocket = Socket & { _handle: unknown };
interface ReadOptions {
  readonly handle: unknown;
  readonly pauseOnCreate: boolean;
  readonly onread: {
    readonly buffer: () => Uint8Array;
    readonly callback: (bytes: number, buffer: Uint8Array) => void;
  };
}

/** A socket transport reading where `sharedReadsTransport` tells its socket to. */
class SharedReadsTransport extends SocketTransport {
  override get sharedReads(): boolean {
    return true;
  }

  /** Where the next read goes. */
  readTarget(): Uint8Array {
    return this.receiver?.readTarget?.() ?? sharedReadBuffer();
  }
}

/**
 * A plain TCP transport whose socket reads into the shared read buffer, or into the memory its
 * receiver names (`TransportReceiver.readTarget`), instead of a fresh 64 KiB buffer per read: no
 * allocation per read, and a large frame lands where it is kept without a copy. Node offers `onread`
 * only to sockets it creates, not to accepted ones, so the accepted socket (made paused, `pauseOnConnect`)
 * gives its handle to a socket made with `onread`; the accepted one, which the server counts, is
 * destroyed when the new one closes.
 */
export function sharedReadsTransport(accepted: Socket): Transport {
  const handle = (accepted as AcceptedSocket)._handle;
  if (handle === null || handle === undefined) return tcpTransport(accepted);
  (accepted as AcceptedSocket)._handle = null;
  let transport: SharedReadsTransport | undefined;
  const options: ReadOptions = {
    handle,
    pauseOnCreate: true,
    onread: {
      buffer: () => transport?.readTarget() ?? sharedReadBuffer(),
      callback: (bytes, buffer) =>
        transport?.socketData(Buffer.from(buffer.buffer, buffer.byteOffset, bytes)),
    },
  };
  const socket = new NetSocket(options as SocketConstructorOpts);
  socket.once('close', () => accepted.destroy());
  transport = new SharedReadsTransport(socket, undefined);
  return transport;
}

/** A TLS socket whose handshake is done (the server's `secureConnection`). */
export function tlsTransport(socket: TLSSocket): Transport {
  return new SocketTransport(socket, socket);
}

/**
 * How long a WebSocket the broker closes waits for the client's close frame before its socket is
 * destroyed (RFC 6455 §7.1.1 lets the server close the TCP connection first). ws waits 30 s by
 * default, so a client that never answers held every socket closed on it (a missed CONNECT deadline,
 * an idle timeout, a protocol error) three times as long as the deadline that closed it.
 */
export const webSocketCloseTimeoutMs = 2000;

/** Options of every WebSocket server the broker runs (ws 8.23's `closeTimeout`, not yet in its types). */
export const webSocketServerOptions: { readonly closeTimeout: number } = {
  closeTimeout: webSocketCloseTimeoutMs,
};

/** RFC 6455 §7.4.1: the endpoint received a type of data it cannot accept. */
const unsupportedDataCode = 1003;

/** Bytes a WebSocket may buffer before a write asks its writer to wait (a socket's own default mark). */
const webSocketHighWaterBytes = 16 * 1024;

export interface WebSocketTransportOptions {
  /**
   * Text frames out, and only text frames in (binary ones are dropped); binary otherwise, and a text
   * frame in closes the connection (1003).
   */
  readonly text?: boolean;
  /** What a client is told when its message passes the server's `maxPayload` (ws's bare 1009 else). */
  readonly tooBig?: TooBig;
}

/** The answer to a message past `maxPayload`: a last message in the protocol's own form, then 1009. */
export interface TooBig {
  /** Sent as a message before the close frame. */
  readonly farewell?: string;
  /** The close frame's reason (RFC 6455 §5.5: at most 123 bytes), naming the limit. */
  readonly reason: string;
}

/** RFC 6455 §7.4.1: a message too big for the endpoint to process. */
const messageTooBigCode = 1009;
/** ws's error code for a message past `maxPayload`. */
const tooBigErrorCode = 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH';
/** WebSocket readyState: the closing handshake has begun. */
const closingState = 2;

/**
 * Answers a message past `maxPayload` as `tooBig` says. ws closes such a connection with a bare 1009
 * before it reports the error, and has no public hook ahead of that, so this listens on its frame
 * reader (`_receiver`, ws 8) ahead of ws; where that is not there, ws's own answer stands.
 */
function answerTooBig(ws: WebSocket, tooBig: TooBig): void {
  const receiver = (ws as unknown as { _receiver?: { prependListener?: unknown } })._receiver;
  if (receiver === undefined || typeof receiver.prependListener !== 'function') return;
  (receiver as NodeJS.EventEmitter).prependListener('error', (err: { code?: string }) => {
    if (err.code !== tooBigErrorCode || ws.readyState !== 1) return;
    if (tooBig.farewell !== undefined) ws.send(tooBig.farewell, { binary: false });
    ws.close(messageTooBigCode, tooBig.reason);
  });
}

/**
 * A WebSocket after its upgrade. Each send is one whole message; input is handed on message by
 * message. `socket` is the upgraded HTTP socket (a TLS socket under `wss://`).
 */
class WebSocketTransport extends BaseTransport implements Transport {
  readonly kind = 'websocket' as const;
  readonly remoteAddress: string | undefined;
  readonly localAddress: string | undefined;
  readonly localPort: number | undefined;
  readonly remotePort: number | undefined;
  readonly tls: TlsState | undefined;
  readonly #ws: WebSocket;
  readonly #socket: Socket;
  readonly #binary: boolean;
  /** Sends not yet acknowledged by ws's callback; a drain is due once none is left. */
  #unsent = 0;
  /** Bytes read off the socket and not yet handed on as a message. */
  #held = 0;

  constructor(ws: WebSocket, socket: Socket, options: WebSocketTransportOptions) {
    super();
    this.#ws = ws;
    this.#socket = socket;
    this.#binary = options.text !== true;
    this.remoteAddress = socket.remoteAddress;
    this.localAddress = socket.localAddress;
    this.localPort = socket.localPort;
    this.remotePort = socket.remotePort;
    this.tls = 'encrypted' in socket ? tlsStateOf(socket as TLSSocket) : undefined;
    // An error with the closing handshake begun (ws closes on a protocol error, with its code) lets
    // the close frame out; ws's closeTimeout ends the socket if the client never answers it.
    ws.on('error', () => {
      if (ws.readyState !== closingState) ws.terminate();
    });
    if (options.tooBig !== undefined) answerTooBig(ws, options.tooBig);
    ws.on('close', () => this.markClosed());
    if (ws.readyState >= 2) this.markClosed();
  }

  octets(): { read: number; written: number } {
    return { read: this.#socket.bytesRead, written: this.#socket.bytesWritten };
  }

  protected listen(receiver: TransportReceiver): void {
    const holding = receiver.holding;
    if (holding !== undefined) {
      // Ahead of ws's own listener, which may hand a whole message on within this very chunk.
      this.#socket.prependListener('data', (chunk: Buffer) => {
        this.#held += chunk.length;
        holding.call(receiver, this.#held);
      });
    }
    const handedOn = () => {
      if (this.#held === 0) return;
      this.#held = 0;
      holding?.call(receiver, 0);
    };
    this.#ws.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
      handedOn();
      if (!this.#binary && isBinary) return;
      if (this.#binary && !isBinary) {
        // MQTT 5.0 §6 [MQTT-6.0.0-1]: any other data frame than binary closes the connection.
        this.#ws.close(unsupportedDataCode, 'binary frames only');
        return;
      }
      receiver.data(toBuffer(data));
    });
    this.#ws.on('ping', handedOn);
    this.#ws.on('pong', handedOn);
  }

  protected stopReading(): void {
    this.#ws.pause();
  }

  protected startReading(): void {
    this.#ws.resume();
  }

  get bufferedBytes(): number {
    return this.#ws.bufferedAmount;
  }

  write(data: Uint8Array, done?: () => void): boolean {
    if (this.closed || this.#ws.readyState !== 1) {
      done?.();
      return true;
    }
    this.#unsent++;
    this.#ws.send(data, { binary: this.#binary }, () => {
      this.#unsent--;
      done?.();
      if (this.#unsent === 0 && this.#ws.bufferedAmount === 0) this.emitDrain();
    });
    return this.#ws.bufferedAmount < webSocketHighWaterBytes;
  }

  writev(pieces: readonly Uint8Array[], done?: () => void): boolean {
    return this.write(pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces), done);
  }

  end(): void {
    this.#ws.close(1000);
  }

  // The closing handshake is part of a clean WebSocket close, as TLS's close_notify.
  leave(): void {
    this.end();
  }

  destroy(): void {
    this.#ws.terminate();
  }
}

export function webSocketTransport(
  ws: WebSocket,
  socket: Socket,
  options: WebSocketTransportOptions = {},
): Transport {
  return new WebSocketTransport(ws, socket, options);
}

function toBuffer(data: Buffer | ArrayBuffer | Buffer[]): Buffer {
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.isBuffer(data) ? data : Buffer.from(data);
}

/** A `writev` of at most this many bytes (and no `done`) is gathered; a larger one is written at once. */
const gatheredPiecesBytesMax = 16 * 1024;

/** Transports with gathered bytes, written together after the current turn's I/O callbacks. */
const dirty: GatheredWrites[] = [];
let flushScheduled = false;

function flushDirty(): void {
  flushScheduled = false;
  const count = dirty.length;
  for (let i = 0; i < count; i++) dirty[i]!.flush();
  dirty.splice(0, count);
}

/**
 * Many small writes gathered into one per event-loop turn: a fan-out or a burst of deliveries then
 * costs one system call per socket instead of one per packet. Reads and closing go to the transport
 * underneath; `end` writes what is gathered first.
 */
class GatheredWrites implements Transport {
  readonly #inner: Transport;
  #pending: Uint8Array[] | undefined;
  #pendingBytes = 0;

  constructor(inner: Transport) {
    this.#inner = inner;
  }

  get kind(): TransportKind {
    return this.#inner.kind;
  }
  get remoteAddress(): string | undefined {
    return this.#inner.remoteAddress;
  }
  get remotePort(): number | undefined {
    return this.#inner.remotePort;
  }
  get localAddress(): string | undefined {
    return this.#inner.localAddress;
  }
  get localPort(): number | undefined {
    return this.#inner.localPort;
  }
  get tls(): TlsState | undefined {
    return this.#inner.tls;
  }
  get sharedReads(): boolean {
    return this.#inner.sharedReads === true;
  }
  get paused(): boolean {
    return this.#inner.paused;
  }
  get closed(): boolean {
    return this.#inner.closed;
  }
  get bufferedBytes(): number {
    return this.#inner.bufferedBytes + this.#pendingBytes;
  }

  /** The socket's counts: bytes gathered and not yet flushed are not written yet. */
  octets(): { read: number; written: number } {
    return this.#inner.octets?.() ?? { read: 0, written: 0 };
  }

  attach(receiver: TransportReceiver): void {
    this.#inner.attach(receiver);
  }

  write(data: Uint8Array, done?: () => void): boolean {
    if (done !== undefined) {
      this.flush();
      return this.#inner.write(data, done);
    }
    if (this.#pending === undefined) {
      this.#pending = [];
      dirty.push(this);
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flushDirty);
      }
    }
    this.#pending.push(data);
    this.#pendingBytes += data.byteLength;
    return true;
  }

  /**
   * Small pieces without a `done` are gathered like `write`s: a connection answering many pipelined
   * requests in one turn (a Kafka client's produce requests) then makes one system call, not one per
   * answer. Large pieces go out at once, uncopied, and so does everything while the socket still holds
   * unsent bytes, so a slow reader feels back-pressure exactly as before.
   */
  writev(pieces: readonly Uint8Array[], done?: () => void): boolean {
    if (done === undefined && this.#inner.bufferedBytes === 0) {
      let bytes = 0;
      for (const piece of pieces) bytes += piece.byteLength;
      if (bytes <= gatheredPiecesBytesMax) {
        for (const piece of pieces) this.write(piece);
        return true;
      }
    }
    this.flush();
    return this.#inner.writev(pieces, done);
  }

  flush(): void {
    const pending = this.#pending;
    if (pending === undefined) return;
    this.#pending = undefined;
    this.#pendingBytes = 0;
    if (this.#inner.closed) return;
    try {
      this.#inner.write(pending.length === 1 ? pending[0]! : Buffer.concat(pending));
    } catch {
      this.#broken();
    }
  }

  /**
   * A write threw (an embedder's transport whose socket was destroyed between writes): how much of the
   * bytes the peer got is unknown, so the stream cannot go on. The connection closes, and its protocol
   * sends again what it sends again after any lost connection; the error ends here, not in the
   * event loop (this runs from `flushDirty`, where it would also have kept other connections' bytes back).
   */
  #broken(): void {
    try {
      this.#inner.destroy();
    } catch {
      // Destroying is all that is left to try; the transport's own close reports the end.
    }
  }

  onDrain(listener: () => void): () => void {
    return this.#inner.onDrain(listener);
  }
  drained(): Promise<void> {
    return this.#inner.drained();
  }
  whenClosed(): Promise<void> {
    return this.#inner.whenClosed();
  }
  pause(): void {
    this.#inner.pause();
  }
  resume(): void {
    this.#inner.resume();
  }

  end(): void {
    this.flush();
    this.#inner.end();
  }

  leave(): void {
    if (this.#pending !== undefined) this.end();
    else this.#inner.leave();
  }

  destroy(): void {
    this.#pending = undefined;
    this.#pendingBytes = 0;
    this.#inner.destroy();
  }
}

/** `transport` with small writes gathered per event-loop turn (a WebSocket keeps one message per write). */
export function gatherWrites(transport: Transport): Transport {
  return transport.kind === 'websocket' ? transport : new GatheredWrites(transport);
}

/**
 * Waits for `transports` to close (their connections were told to end), at most `graceMs`; those
 * still open then are destroyed.
 */
export async function closeWithin(transports: Iterable<Transport>, graceMs: number): Promise<void> {
  const open = [...transports].filter((t) => !t.closed);
  if (open.length === 0) return;
  let timer: NodeJS.Timeout | undefined;
  const grace = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, graceMs);
  });
  await Promise.race([Promise.all(open.map((t) => t.whenClosed())), grace]);
  clearTimeout(timer);
  for (const transport of open) transport.destroy();
}
