/** The byte pipe under a connection: a TCP socket or a WebSocket, seen the same way. */
import type { Buffer } from 'node:buffer';
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';

export interface Transport {
  readonly remoteAddress: string | undefined;
  write(data: Buffer): void;
  /** Bytes written but not yet handed to the OS. */
  bufferedBytes(): number;
  onDrain(listener: () => void): void;
  /** Flush what is written, then close. */
  end(): void;
  destroy(): void;
}

export function socketTransport(socket: Socket): Transport {
  return {
    remoteAddress: socket.remoteAddress,
    write: (data) => {
      socket.write(data);
    },
    bufferedBytes: () => socket.writableLength,
    onDrain: (listener) => socket.on('drain', listener),
    end: () => socket.end(),
    destroy: () => socket.destroy(),
  };
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
    end: () => ws.close(1000),
    destroy: () => ws.terminate(),
  };
}
