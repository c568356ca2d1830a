/**
 * The attacker of `npm run bench -- login-flood`, run as its own process: `clients` raw AMQP clients
 * that each log in as `user` with a new wrong password, wait for the answer (connection.close, or
 * the socket closing), and start again at once, until `durationMs` has passed.
 *
 *   node login-flood-peer.js <port> <clients> <durationMs> <localAddress> <user>
 *
 * Prints one JSON line: attempts, refusals (an answer came), accepted (connection.tune: should never
 * happen), unanswered (no answer within `attemptTimeoutMs`), and socket errors.
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { encodeMethodFrame, protocolHeader } from '../src/protocols/amqp/codec/index.js';

const attemptTimeoutMs = 15_000;
/** Method ids at payload bytes 0..3 (class 10): start 10/10, tune 10/30, close 10/50. */
const tuneMethod = 30;

interface Tally {
  attempts: number;
  refusals: number;
  accepted: number;
  unanswered: number;
  errors: number;
}

function startOk(user: string): Uint8Array {
  const response = Buffer.from(`\0${user}\0${randomBytes(12).toString('hex')}`);
  return encodeMethodFrame(
    0,
    {
      name: 'connection.start-ok',
      fields: { clientProperties: {}, mechanism: 'PLAIN', response, locale: 'en_US' },
    },
    4096,
  );
}

/** One login attempt: resolves when it has an answer, failed, or timed out. */
function attempt(port: number, localAddress: string, user: string, tally: Tally): Promise<void> {
  return new Promise((resolve) => {
    tally.attempts++;
    let frames = 0;
    let done = false;
    const socket: Socket = connect({ port, host: '127.0.0.1', localAddress });
    const finish = (outcome: keyof Tally | undefined) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (outcome !== undefined) tally[outcome]++;
      socket.destroy();
      resolve();
    };
    const timer = setTimeout(() => finish('unanswered'), attemptTimeoutMs);
    socket.setNoDelay(true);
    socket.on('connect', () => socket.write(protocolHeader));
    socket.on('data', (chunk: Buffer) => {
      frames++;
      if (frames === 1) {
        socket.write(startOk(user));
        return;
      }
      // Frame header is 7 bytes; the method's class and id follow.
      finish(chunk.length >= 11 && chunk.readUInt16BE(9) === tuneMethod ? 'accepted' : 'refusals');
    });
    socket.on('close', () => finish(frames >= 1 ? 'refusals' : 'errors'));
    socket.on('error', () => finish('errors'));
  });
}

async function main(): Promise<void> {
  const [port, clients, durationMs, localAddress = '127.0.0.1', user = 'guest'] = process.argv.slice(2);
  const deadline = Date.now() + Number(durationMs);
  const tally: Tally = { attempts: 0, refusals: 0, accepted: 0, unanswered: 0, errors: 0 };
  const loop = async () => {
    while (Date.now() < deadline) await attempt(Number(port), localAddress, user, tally);
  };
  await Promise.all(Array.from({ length: Number(clients) }, loop));
  process.stdout.write(`${JSON.stringify(tally)}\n`);
}

await main();
