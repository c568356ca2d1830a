/**
 * Hostile clients for the ingress tests and `npm run bench -- ingress-memory`: each opens a plain
 * socket, goes as far into its protocol as asked (logged in or not), announces a frame of `announced`
 * bytes (its header included), sends `sent` of them and then stalls, holding whatever the broker
 * keeps of it.
 *
 *   amqp     protocol header (and, logged in, the whole handshake), then a frame header
 *   mqtt     a CONNECT header (or, logged in, a CONNECT answered, then a PUBLISH header)
 *   mqtt-ws  the same over WebSocket, the frame left unfinished at the WebSocket level
 *   kafka    a request size (or, logged in, an ApiVersions answered first, then a request size)
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import mqttPacket from 'mqtt-packet';
import { encodeMethodFrame, protocolHeader } from '../src/protocols/amqp/codec/index.js';
import { ApiKey, frameRequest } from '../src/protocols/kafka/codec/index.js';

export const stallProtocols = ['amqp', 'mqtt', 'mqtt-ws', 'kafka'] as const;
export type StallProtocol = (typeof stallProtocols)[number];

export interface StallOptions {
  readonly announced: number;
  readonly sent: number;
  readonly loggedIn: boolean;
}

const answerTimeoutMs = 10_000;

/** Resolves with the socket once `count` bytes or more have come back (the broker's answers). */
function socketTo(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Waits until the broker has answered (any bytes), or fails after `answerTimeoutMs`. */
function answered(socket: Socket, bytes = 1): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let got = Buffer.alloc(0);
    const timer = setTimeout(() => done(new Error('no answer')), answerTimeoutMs);
    const onData = (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      if (got.length >= bytes) done();
    };
    const onClose = () => done(new Error('closed before answering'));
    function done(err?: Error): void {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      if (err) reject(err);
      else resolve(got);
    }
    socket.on('data', onData);
    socket.once('close', onClose);
  });
}

async function amqpHandshake(socket: Socket): Promise<void> {
  socket.write(protocolHeader);
  await answered(socket);
  const response = Buffer.from('\0guest\0guest');
  const startOk = { clientProperties: {}, mechanism: 'PLAIN', response, locale: 'en_US' };
  socket.write(encodeMethodFrame(0, { name: 'connection.start-ok', fields: startOk }, 4096));
  await answered(socket);
  const tuneOk = { channelMax: 0, frameMax: 131_072, heartbeat: 0 };
  socket.write(encodeMethodFrame(0, { name: 'connection.tune-ok', fields: tuneOk }, 4096));
  const open = { virtualHost: '/', capabilities: '', insist: false };
  socket.write(encodeMethodFrame(0, { name: 'connection.open', fields: open }, 4096));
  await answered(socket);
}

/** An AMQP frame header (type body, channel 1 once open) announcing a payload of `announced - 8`. */
function amqpFrameHead(announced: number, loggedIn: boolean): Buffer {
  const head = Buffer.alloc(7);
  head.writeUInt8(loggedIn ? 3 : 1, 0);
  head.writeUInt16BE(loggedIn ? 1 : 0, 1);
  head.writeUInt32BE(announced - 8, 3);
  return head;
}

function mqttFixedHead(type: number, announced: number): Buffer {
  const lengthBytes = announced > 2_097_151 ? 4 : announced > 16_383 ? 3 : announced > 127 ? 2 : 1;
  const remaining = announced - 1 - lengthBytes;
  const out = [type];
  let value = remaining;
  do {
    let byte = value % 128;
    value = Math.floor(value / 128);
    if (value > 0) byte |= 0x80;
    out.push(byte);
  } while (value > 0);
  return Buffer.from(out);
}

const connectPacket = (): Buffer =>
  mqttPacket.generate({
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: 4,
    clean: true,
    clientId: `stall-${randomBytes(6).toString('hex')}`,
    keepalive: 0,
  });

async function kafkaApiVersions(socket: Socket): Promise<void> {
  const header = {
    requestApiKey: ApiKey.ApiVersions,
    requestApiVersion: 0,
    correlationId: 1,
    clientId: 'stall',
  };
  socket.write(frameRequest(header, () => {}));
  await answered(socket);
}

function kafkaSize(announced: number): Buffer {
  const head = Buffer.alloc(4);
  head.writeInt32BE(announced - 4);
  return head;
}

/** The HTTP upgrade to MQTT over WebSocket, by hand, so that a frame can be left unfinished. */
async function webSocketUpgrade(socket: Socket): Promise<void> {
  const key = randomBytes(16).toString('base64');
  socket.write(
    'GET /mqtt HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n`,
  );
  const reply = await answered(socket);
  if (!reply.toString('latin1').startsWith('HTTP/1.1 101')) throw new Error('WebSocket upgrade refused');
}

/** Opcode and length bytes, a 64-bit length, a masking key. */
const webSocketHeadBytes = 2 + 8 + 4;

/** A masked binary WebSocket frame header announcing `payload` bytes (masking key all zero). */
function webSocketHead(payload: number): Buffer {
  const head = Buffer.alloc(webSocketHeadBytes);
  head[0] = 0x82;
  head[1] = 0x80 | 127;
  head.writeBigUInt64BE(BigInt(payload), 2);
  return head;
}

function webSocketFrame(payload: Buffer): Buffer {
  return Buffer.concat([webSocketHead(payload.length), payload]);
}

/** Logs in if asked; returns the head of the frame to stall in. */
async function prepare(protocol: StallProtocol, socket: Socket, options: StallOptions): Promise<Buffer> {
  const { announced, loggedIn } = options;
  switch (protocol) {
    case 'amqp':
      if (loggedIn) await amqpHandshake(socket);
      else socket.write(protocolHeader);
      return amqpFrameHead(announced, loggedIn);
    case 'mqtt':
      if (!loggedIn) return mqttFixedHead(0x10, announced);
      socket.write(connectPacket());
      await answered(socket, 4);
      return mqttFixedHead(0x30, announced);
    case 'mqtt-ws':
      await webSocketUpgrade(socket);
      if (loggedIn) {
        socket.write(webSocketFrame(connectPacket()));
        await answered(socket, 4);
      }
      return webSocketHead(announced - webSocketHeadBytes);
    case 'kafka':
      if (loggedIn) await kafkaApiVersions(socket);
      return kafkaSize(announced);
  }
}

export interface Stalled {
  readonly socket: Socket;
  /** True once the broker closed the connection. */
  readonly closed: () => boolean;
}

/** Opens one stalled connection. */
export async function stall(protocol: StallProtocol, port: number, options: StallOptions): Promise<Stalled> {
  const socket = await socketTo(port);
  let closed = false;
  socket.on('close', () => (closed = true));
  socket.on('error', () => {});
  const head = await prepare(protocol, socket, options);
  socket.on('data', () => {});
  socket.write(head);
  const body = Buffer.alloc(Math.max(0, options.sent - head.length), 0x61);
  if (body.length > 0) socket.write(body);
  return { socket, closed: () => closed };
}
