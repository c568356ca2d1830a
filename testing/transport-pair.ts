/**
 * Two connected in-memory transports, the middle test tier's socket: give one end to
 * `Broker.accept(protocol, end)` and speak the protocol's bytes on the other. Bytes written on one end
 * arrive at the other on a later turn of the event loop, in order, as a socket delivers them; pausing
 * an end holds its input; ending one end closes both once what was written has arrived.
 */
import { Buffer } from 'node:buffer';
import type { Transport, TransportReceiver } from '../src/protocols/transport.js';

export class MemoryTransport implements Transport {
  readonly kind = 'memory' as const;
  readonly remoteAddress: string;
  readonly localAddress = '127.0.0.1';
  readonly localPort = 0;
  readonly tls = undefined;
  readonly bufferedBytes = 0;
  peer!: MemoryTransport;
  #receiver: TransportReceiver | undefined;
  readonly #inbox: Buffer[] = [];
  #paused = false;
  #closed = false;
  #deliveryQueued = false;
  #closeQueued = false;
  readonly #closedWaiters: Array<() => void> = [];

  constructor(remoteAddress = '127.0.0.1') {
    this.remoteAddress = remoteAddress;
  }

  get paused(): boolean {
    return this.#paused;
  }

  get closed(): boolean {
    return this.#closed;
  }

  attach(receiver: TransportReceiver): void {
    if (this.#receiver !== undefined) throw new Error('a transport takes one receiver');
    this.#receiver = receiver;
    if (this.#closed) receiver.closed();
    else this.#schedule();
  }

  write(data: Uint8Array, done?: () => void): boolean {
    if (!this.#closed && !this.peer.#closed) this.peer.#arrive(Buffer.from(data));
    done?.();
    return true;
  }

  writev(pieces: readonly Uint8Array[], done?: () => void): boolean {
    return this.write(Buffer.concat(pieces), done);
  }

  onDrain(_listener: () => void): () => void {
    return () => {};
  }

  drained(): Promise<void> {
    return Promise.resolve();
  }

  whenClosed(): Promise<void> {
    return this.#closed ? Promise.resolve() : new Promise((resolve) => this.#closedWaiters.push(resolve));
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
    this.#schedule();
  }

  /** Closes both ends once the bytes written so far have arrived. */
  end(): void {
    this.peer.#closeQueued = true;
    this.#closeQueued = true;
    this.peer.#schedule();
    this.#schedule();
  }

  leave(): void {
    this.end();
  }

  destroy(): void {
    this.#close();
    this.peer.#close();
  }

  #arrive(chunk: Buffer): void {
    this.#inbox.push(chunk);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#deliveryQueued) return;
    this.#deliveryQueued = true;
    setImmediate(() => {
      this.#deliveryQueued = false;
      this.#deliver();
    });
  }

  #deliver(): void {
    const receiver = this.#receiver;
    if (receiver === undefined || this.#closed) return;
    while (!this.#paused && this.#inbox.length > 0) receiver.data(this.#inbox.shift()!);
    if (this.#closeQueued && this.#inbox.length === 0) this.#close();
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#inbox.length = 0;
    this.#receiver?.closed();
    for (const resolve of this.#closedWaiters.splice(0)) resolve();
  }
}

/** `[brokerEnd, clientEnd]`: connected, each the other's peer. */
export function transportPair(clientAddress = '127.0.0.1'): [MemoryTransport, MemoryTransport] {
  const brokerEnd = new MemoryTransport(clientAddress);
  const clientEnd = new MemoryTransport('127.0.0.1');
  brokerEnd.peer = clientEnd;
  clientEnd.peer = brokerEnd;
  return [brokerEnd, clientEnd];
}
