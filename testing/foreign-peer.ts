/**
 * `node foreign-peer.js <broker address> <client address>`, run inside a network namespace whose
 * loopback carries both (test/server/foreign-address.test.ts makes it): a broker bound to the first,
 * clients from the second, so the broker sees a peer that is not loopback. Prints one JSON object:
 * each surface's answer to a request without credentials and with guest's (guest logs in from
 * loopback only).
 */
import { randomBytes } from 'node:crypto';
import { connect as http2Connect } from 'node:http2';
import { connect, type Socket } from 'node:net';
import { Broker } from '../src/server/broker.js';
import { silentLogger } from '../src/shared/logger.js';
import { clientFrame, Opcode } from './hostile-http.js';

const [brokerHost = '', clientHost = ''] = process.argv.slice(2);
const guest = `Basic ${Buffer.from('guest:guest').toString('base64')}`;
const answerWaitMs = 2000;

function fromClient(port: number): Socket {
  const socket = connect({ host: brokerHost, port, localAddress: clientHost });
  socket.on('error', () => {});
  return socket;
}

/** The status line of the answer to one raw HTTP request. */
function statusOf(port: number, request: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = fromClient(port);
    let got = '';
    socket.on('connect', () => socket.write(request));
    socket.on('data', (chunk: Buffer) => {
      got += chunk.toString('latin1');
      if (got.includes('\r\n')) socket.destroy();
    });
    socket.on('close', () => resolve(got.split('\r\n')[0] ?? ''));
    setTimeout(() => socket.destroy(), answerWaitMs);
  });
}

const get = (path: string, authorization?: string) =>
  `GET ${path} HTTP/1.1\r\nHost: x\r\n${authorization === undefined ? '' : `Authorization: ${authorization}\r\n`}Connection: close\r\n\r\n`;

const upgrade = (path: string, protocol = '') =>
  `GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
  `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n${protocol}\r\n`;

/** An MQTT 3.1.1 CONNECT without a user name over WebSocket; the CONNACK's return code. */
async function mqttAnonymous(port: number): Promise<number | undefined> {
  const socket = fromClient(port);
  let got = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    got = Buffer.concat([got, chunk]);
  });
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(upgrade('/mqtt', 'Sec-WebSocket-Protocol: mqtt\r\n'));
  const connectPacket = Buffer.from([0x10, 0x0c, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 2, 0, 60, 0, 0]);
  setTimeout(() => socket.write(clientFrame(Opcode.binary, connectPacket)), 300);
  await new Promise((resolve) => setTimeout(resolve, answerWaitMs));
  socket.destroy();
  const head = got.indexOf('\r\n\r\n');
  // After the 101: a binary frame (0x82, length 4) holding CONNACK 0x20 0x02, flags, return code.
  return head < 0 ? undefined : got[head + 4 + 5];
}

/** A gRPC Ping; its grpc-status. */
function grpcPing(port: number, authorization?: string): Promise<string | undefined> {
  const session = http2Connect(`http://${brokerHost}:${port}`, { createConnection: () => fromClient(port) });
  session.on('error', () => {});
  return new Promise((resolve) => {
    const headers: Record<string, string> = {
      ':method': 'POST',
      ':path': '/kubemq.kubemq/Ping',
      'content-type': 'application/grpc',
      te: 'trailers',
    };
    if (authorization !== undefined) headers['authorization'] = authorization;
    const stream = session.request(headers);
    let code: string | undefined;
    const take = (h: Record<string, unknown>) => {
      if (h['grpc-status'] !== undefined) code = String(h['grpc-status']);
    };
    stream.on('response', take);
    stream.on('trailers', take);
    stream.on('data', () => {});
    stream.on('error', () => {});
    stream.on('close', () => {
      session.destroy();
      resolve(code);
    });
    stream.end(Buffer.alloc(5));
  });
}

async function main(): Promise<void> {
  const broker = await Broker.start({
    storage: 'memory',
    fsync: 'never',
    logger: silentLogger(),
    host: brokerHost,
    ...{ amqpPort: 0, mqttPort: 0, kafkaPort: 0 },
    ...{ mqttWsPort: 'auto', grpcPort: 'auto', restPort: 'auto', httpPort: 'auto' },
  });
  const { httpPort = 0, restPort = 0, grpcPort = 0, mqttWsPort = 0 } = broker.ports;
  const answers = {
    adminOverview: await statusOf(httpPort, get('/api/overview')),
    adminOverviewGuest: await statusOf(httpPort, get('/api/overview', guest)),
    metrics: await statusOf(httpPort, get('/metrics')),
    health: await statusOf(httpPort, get('/api/health')),
    restPing: await statusOf(restPort, get('/ping')),
    restPingGuest: await statusOf(restPort, get('/ping', guest)),
    restUpgrade: await statusOf(
      restPort,
      upgrade('/subscribe/events?client_id=a&channel=c&subscribe_type=events'),
    ),
    grpcPing: await grpcPing(grpcPort),
    grpcPingGuest: await grpcPing(grpcPort, guest),
    mqttWsAnonymous: await mqttAnonymous(mqttWsPort),
  };
  await broker.stop();
  process.stdout.write(`${JSON.stringify(answers)}\n`);
}

await main();
