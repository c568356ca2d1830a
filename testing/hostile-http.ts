/**
 * Hostile HTTP and WebSocket clients by hand, for what no library sends: a request trickled a byte at
 * a time and never finished, a WebSocket message left in fragments, a client that never reads.
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

/** A connected plain socket to `port` on loopback. */
export function socketTo(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** What a trickled request got: its answer and when its socket closed (ms after it opened). */
export interface Trickled {
  readonly closed: Promise<{ readonly afterMs: number; readonly answer: string }>;
  stop(): void;
}

/**
 * Sends `head`, then `drip` every `everyMs` and never more: a slowloris. Bounded by `lastMs`, when the
 * test's own socket is destroyed if the broker has not closed it.
 */
export function trickle(port: number, head: string, drip: string, everyMs: number, lastMs: number): Trickled {
  const socket = connect(port, '127.0.0.1', () => socket.write(head));
  const startMs = Date.now();
  const timer = setInterval(() => socket.writable && socket.write(drip), everyMs);
  const last = setTimeout(() => socket.destroy(), lastMs);
  let answer = '';
  socket.on('data', (chunk: Buffer) => {
    answer += chunk.toString('latin1');
  });
  socket.on('error', () => {});
  const closed = new Promise<{ afterMs: number; answer: string }>((resolve) =>
    socket.once('close', () => {
      clearInterval(timer);
      clearTimeout(last);
      resolve({ afterMs: Date.now() - startMs, answer });
    }),
  );
  return { closed, stop: () => socket.destroy() };
}

/** Upgrades `socket` to a WebSocket at `path`; fails unless the answer is 101. */
export async function upgradeOn(socket: Socket, path: string, protocol?: string): Promise<void> {
  const key = randomBytes(16).toString('base64');
  const offer = protocol === undefined ? '' : `Sec-WebSocket-Protocol: ${protocol}\r\n`;
  socket.write(
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${offer}\r\n`,
  );
  const reply = await new Promise<Buffer>((resolve, reject) => {
    socket.once('data', resolve);
    socket.once('close', () => reject(new Error('closed before the upgrade was answered')));
  });
  if (!reply.toString('latin1').startsWith('HTTP/1.1 101')) throw new Error('WebSocket upgrade refused');
}

/** WebSocket opcodes (RFC 6455 §5.2). */
export const Opcode = { continuation: 0x0, text: 0x1, binary: 0x2, ping: 0x9 } as const;

/** A masked client frame (RFC 6455 §5.3: a client masks every frame); `fin` false leaves the message open. */
export function clientFrame(opcode: number, payload: Buffer, fin = true): Buffer {
  const length = payload.length;
  const lengthBytes = length < 126 ? 0 : length < 65_536 ? 2 : 8;
  const head = Buffer.alloc(2 + lengthBytes);
  head[0] = (fin ? 0x80 : 0) | opcode;
  head[1] = 0x80 | (lengthBytes === 0 ? length : lengthBytes === 2 ? 126 : 127);
  if (lengthBytes === 2) head.writeUInt16BE(length, 2);
  if (lengthBytes === 8) head.writeBigUInt64BE(BigInt(length), 2);
  const mask = randomBytes(4);
  const masked = Buffer.from(payload);
  for (let i = 0; i < masked.length; i++) masked[i] = masked[i]! ^ mask[i % 4]!;
  return Buffer.concat([head, mask, masked]);
}
