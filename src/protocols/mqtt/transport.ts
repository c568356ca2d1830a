/**
 * The byte pipe under a connection: a TCP socket or a WebSocket, seen the same way.
 * TCP writes are gathered and handed to the socket once per event-loop turn: a fan-out or a burst of
 * deliveries then costs one system call per socket instead of one per packet.
 */
import { Buffer } from 'node:buffer';
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';

export interface Transport {
  readonly remoteAddress: string | undefined;
  write(data: Buffer): void;
  /** Bytes written but not yet handed to the OS. */
  bufferedBytes(): number;
  onDrain(listener: () => void): void;
  /** Stop reading from the peer (back-pressure) until `resume`. */
  pause(): void;
  resume(): void;
  /** Flush what is written, then close. */
  end(): void;
  destroy(): void;
}

/** Sockets with gathered bytes, flushed together after the current turn's I/O callbacks. */
const dirty: SocketTransport[] = [];
let flushScheduled = false;

function flushDirty(): void {
  flushScheduled = false;
  const count = dirty.length;
  for (let i = 0; i < count; i++) dirty[i]!.flush();
  dirty.splice(0, count);
}

class SocketTransport implements Transport {
  readonly remoteAddress: string | undefined;
  readonly #socket: Socket;
  #pending: Buffer[] | undefined;
  #pendingBytes = 0;

  constructor(socket: Socket) {
    this.#socket = socket;
    this.remoteAddress = socket.remoteAddress;
  }

  write(data: Buffer): void {
    if (this.#pending === undefined) {
      this.#pending = [];
      dirty.push(this);
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flushDirty);
      }
    }
    this.#pending.push(data);
    this.#pendingBytes += data.length;
  }

  flush(): void {
    const pending = this.#pending;
    if (pending === undefined) return;
    this.#pending = undefined;
    this.#pendingBytes = 0;
    if (this.#socket.destroyed) return;
    this.#socket.write(pending.length === 1 ? pending[0]! : Buffer.concat(pending));
  }

  bufferedBytes(): number {
    return this.#socket.writableLength + this.#pendingBytes;
  }

  onDrain(listener: () => void): void {
    this.#socket.on('drain', listener);
  }

  pause(): void {
    this.#socket.pause();
  }

  resume(): void {
    this.#socket.resume();
  }

  end(): void {
    this.flush();
    this.#socket.end();
  }

  destroy(): void {
    this.#pending = undefined;
    this.#pendingBytes = 0;
    this.#socket.destroy();
  }
}

export function socketTransport(socket: Socket): Transport {
  return new SocketTransport(socket);
}

/** WebSocket sends are whole binary messages; an MQTT packet may span several (MQTT 5.0 §6). */
export function webSocketTransport(ws: WebSocket, remoteAddress: string | undefined): Transport {
  const drainListeners: Array<() => void> = [];
  let draining = false;
  const afterSend = () => {
    if (draining || ws.bufferedAmount > 0) return;
    draining = true;
    queueMicrotask(() => {
      draining = false;
      for (const listener of drainListeners) listener();
    });
  };
  return {
    remoteAddress,
    write: (data) => ws.send(data, { binary: true }, afterSend),
    bufferedBytes: () => ws.bufferedAmount,
    onDrain: (listener) => drainListeners.push(listener),
    pause: () => ws.pause(),
    resume: () => ws.resume(),
    end: () => ws.close(1000),
    destroy: () => ws.terminate(),
  };
}
