/** Plays one case against a listener over TCP: writes its bytes as the case says, then lets go. */
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Case } from './mutate.js';

export interface CaseOutcome {
  /** Bytes the broker sent back. */
  readonly answeredBytes: number;
  /** The broker closed the connection before the case let go of it. */
  readonly closedByBroker: boolean;
  /** The connection was still open `closeWaitMs` after the case ended it. */
  readonly lingered: boolean;
}

/** The broker refused the connection itself: it is down or out of sockets, not a case's fault. */
export class ConnectRefused extends Error {}

function opened(port: number, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new ConnectRefused(`no connection to ${port} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(new ConnectRefused(`connect to ${port}: ${err.message}`));
    });
  });
}

function closedWithin(socket: Socket, ms: number): Promise<boolean> {
  if (socket.destroyed) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

export async function runCase(port: number, c: Case, closeWaitMs: number): Promise<CaseOutcome> {
  const socket = await opened(port, closeWaitMs);
  let answeredBytes = 0;
  let closedByBroker = false;
  socket.on('data', (chunk: Buffer) => (answeredBytes += chunk.byteLength));
  socket.on('error', () => {});
  socket.once('close', () => (closedByBroker = true));
  for (const chunk of c.chunks) {
    if (socket.destroyed) break;
    socket.write(chunk);
    if (c.pace === 'turns') await new Promise((resolve) => setImmediate(resolve));
    else if (c.pace === 'wait') await sleep(1 + (chunk.byteLength % 3));
  }
  if (c.finish === 'destroy') {
    socket.destroy();
    return { answeredBytes, closedByBroker, lingered: false };
  }
  if (c.finish === 'linger') await closedWithin(socket, c.lingerMs);
  const byBroker = closedByBroker;
  socket.end();
  const closed = await closedWithin(socket, closeWaitMs);
  socket.destroy();
  return { answeredBytes, closedByBroker: byBroker, lingered: !closed };
}
