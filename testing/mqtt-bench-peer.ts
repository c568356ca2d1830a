/**
 * The client side of `npm run bench -- mqtt`, run as forked processes so that the mqtt.js clients do
 * not share a core with the bench process, nor publisher with subscribers. Two roles:
 *
 * - `pub <port> <topic> <qos> <messages> <inFlightMax> [clientId]`: one publisher (with a client id: a
 *   persistent session, clean false). Publishes after `start`,
 *   keeping at most `inFlightMax` messages between publish and last receipt; the parent relays the
 *   subscribers' progress as `credit` messages. Each payload carries its index and the wall-clock
 *   time it was handed to the client.
 * - `sub <port> <topic> <qos> <messages> <subscribers> [clientIdPrefix]`: that many subscribers in
 *   this process (a prefix: persistent sessions, clean false, under `<prefix><i>`). A message is
 *   complete here when every local subscriber has it; completions are reported every
 *   `progressEvery` and at the end.
 *
 * Parent → child: `{ type: 'start' }`, `{ type: 'credit', done }` (pub), `{ type: 'stop' }`.
 * Child → parent: `{ type: 'ready' }`, `{ type: 'progress', done }` (sub), then one `PeerResult`.
 * A child exits when the parent goes away or after `lifetimeMs`, whichever is first.
 */
import { fileURLToPath } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';

export interface PeerResult {
  readonly type: 'result';
  readonly role: 'pub' | 'sub';
  /** Publisher: when publishing began. Subscriber: when its last message completed (or it was stopped). */
  readonly atMs: number;
  /** Messages sent (pub) or completed here (sub). */
  readonly count: number;
  /** Deliveries received by all subscribers of this process. */
  readonly deliveries: number;
  /** Per message index, ms from publish to completion here; NaN where not completed. Sub only. */
  readonly latenciesMs: Float64Array;
  /** CPU time (user + system) from `start` to the result, and the wall time it spans. */
  readonly cpuMs: number;
  readonly wallMs: number;
}

export type ParentMessage =
  | { readonly type: 'start' }
  | { readonly type: 'credit'; readonly done: number }
  | { readonly type: 'stop' };

export type ChildMessage =
  | { readonly type: 'ready' }
  | { readonly type: 'progress'; readonly done: number }
  | PeerResult;

export const progressEvery = 100;
type Qos = 0 | 1 | 2;
const payloadBytes = 256;
/** No child outlives this, whatever the parent does. */
const lifetimeMs = 300_000;
const closeTimeoutMs = 5000;

/** Wall-clock ms with sub-ms resolution, comparable between processes on one machine. */
export const nowMs = (): number => performance.timeOrigin + performance.now();

export function send(message: ChildMessage): void {
  process.send?.(message);
}

/** The result, flushed before the channel is closed: a large message is still being written after `send`. */
export function sendResult(message: PeerResult): Promise<void> {
  return new Promise((resolve) => {
    if (process.send === undefined) resolve();
    else process.send(message, undefined, {}, () => resolve());
  });
}

function connectClient(port: number, clientId?: string): Promise<MqttClient> {
  return mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    reconnectPeriod: 0,
    protocolVersion: 4,
    clean: clientId === undefined,
    ...(clientId === undefined ? {} : { clientId }),
  });
}

export function onParent(handler: (m: ParentMessage) => void): void {
  process.on('message', (m: ParentMessage) => handler(m));
}

async function closeAll(clients: readonly MqttClient[]): Promise<void> {
  const timeout = new Promise((resolve) => setTimeout(resolve, closeTimeoutMs).unref());
  await Promise.race([Promise.all(clients.map((c) => c.endAsync(true))), timeout]);
}

async function runPub(
  port: number,
  topic: string,
  qos: Qos,
  messages: number,
  inFlightMax: number,
  clientId: string | undefined,
) {
  const pub = await connectClient(port, clientId);
  const payload = Buffer.alloc(payloadBytes, 0x61);
  let sent = 0;
  await publisherRun(
    (done) => {
      while (sent < messages && sent - done < inFlightMax) {
        payload.writeDoubleLE(nowMs(), 0);
        payload.writeUInt32LE(sent, 8);
        sent++;
        pub.publish(topic, Buffer.from(payload), { qos });
      }
    },
    () => sent,
  );
  await closeAll([pub]);
}

export function result(
  role: PeerResult['role'],
  atMs: number,
  count: number,
  deliveries: number,
  latenciesMs: Float64Array,
  cpu: NodeJS.CpuUsage,
  wallMs: number,
): PeerResult {
  return {
    type: 'result',
    role,
    atMs,
    count,
    deliveries,
    latenciesMs,
    cpuMs: (cpu.user + cpu.system) / 1000,
    wallMs,
  };
}

async function runSub(
  port: number,
  topic: string,
  qos: Qos,
  messages: number,
  subscribers: number,
  clientIdPrefix: string | undefined,
) {
  const subs = await Promise.all(
    Array.from({ length: subscribers }, (_, i) =>
      connectClient(port, clientIdPrefix === undefined ? undefined : `${clientIdPrefix}${i}`),
    ),
  );
  await subscriberRun(messages, subscribers, async (completions) => {
    for (const sub of subs) {
      sub.on('message', (_topic, body) => completions.receive(body.readUInt32LE(8), body.readDoubleLE(0)));
    }
    await Promise.all(subs.map((s) => s.subscribeAsync(topic, { qos })));
  });
  await closeAll(subs);
}

/**
 * A subscriber process's count: a message is complete when every local subscriber has it; its
 * latency is publish to that last receipt. Progress goes to the parent every `progressEvery`.
 */
export class Completions {
  readonly #counts: Uint8Array;
  readonly #latenciesMs: Float64Array;
  readonly #messages: number;
  readonly #subscribers: number;
  readonly #finish: () => void;
  #done = 0;
  #deliveries = 0;
  #lastMs = 0;

  constructor(messages: number, subscribers: number, finish: () => void) {
    this.#counts = new Uint8Array(messages);
    this.#latenciesMs = new Float64Array(messages).fill(Number.NaN);
    this.#messages = messages;
    this.#subscribers = subscribers;
    this.#finish = finish;
  }

  /** One delivery of message `index`, published at `sentMs` (the payload's own stamp). */
  receive(index: number, sentMs: number): void {
    this.#deliveries++;
    if (index >= this.#messages || ++this.#counts[index]! !== this.#subscribers) return;
    this.#lastMs = nowMs();
    this.#latenciesMs[index] = this.#lastMs - sentMs;
    this.#done++;
    if (this.#done === this.#messages) this.#finish();
    else if (this.#done % progressEvery === 0) send({ type: 'progress', done: this.#done });
  }

  /** The last progress and the result, once finished or stopped. */
  async report(startMs: number, cpuBefore: NodeJS.CpuUsage): Promise<void> {
    const cpu = process.cpuUsage(cpuBefore);
    const endMs = this.#done === this.#messages ? this.#lastMs : nowMs();
    send({ type: 'progress', done: this.#done });
    const wallMs = nowMs() - startMs;
    await sendResult(result('sub', endMs, this.#done, this.#deliveries, this.#latenciesMs, cpu, wallMs));
  }
}

/**
 * A subscriber process's run: `attach` hands each delivery to the completions and subscribes, then
 * `ready`; measured from the parent's `start` until every message completed or `stop`.
 */
export async function subscriberRun(
  messages: number,
  subscribers: number,
  attach: (completions: Completions) => Promise<void>,
): Promise<void> {
  let finish: () => void = () => {};
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const completions = new Completions(messages, subscribers, finish);
  let startMs = 0;
  let cpuBefore = process.cpuUsage();
  await attach(completions);
  onParent((m) => {
    if (m.type === 'start') {
      startMs = nowMs();
      cpuBefore = process.cpuUsage();
    } else if (m.type === 'stop') finish();
  });
  send({ type: 'ready' });
  await finished;
  await completions.report(startMs, cpuBefore);
}

/**
 * A publisher process's run: `pump` publishes what the window allows (`credited`: the messages
 * completed everywhere, relayed by the parent), from `start` until `stop`; returns its result.
 */
export async function publisherRun(pump: (credited: number) => void, sent: () => number): Promise<void> {
  let startMs = 0;
  let cpuBefore = process.cpuUsage();
  let done = 0;
  let stopped = false;
  const finished = new Promise<void>((resolve) => {
    onParent((m) => {
      if (stopped) return;
      if (m.type === 'start') {
        startMs = nowMs();
        cpuBefore = process.cpuUsage();
        pump(done);
      } else if (m.type === 'credit') {
        done = Math.max(done, m.done);
        pump(done);
      } else {
        stopped = true;
        resolve();
      }
    });
  });
  send({ type: 'ready' });
  await finished;
  const cpu = process.cpuUsage(cpuBefore);
  await sendResult(result('pub', startMs, sent(), 0, new Float64Array(0), cpu, nowMs() - startMs));
}

async function main(): Promise<void> {
  const [role, port, topic, qos, messages, ...rest] = process.argv.slice(2);
  const lifetime = setTimeout(() => process.exit(3), lifetimeMs);
  process.once('disconnect', () => process.exit(0));
  const q = qos === '2' ? 2 : qos === '1' ? 1 : 0;
  if (role === 'pub') await runPub(Number(port), topic!, q, Number(messages), Number(rest[0]), rest[1]);
  else if (role === 'sub') await runSub(Number(port), topic!, q, Number(messages), Number(rest[0]), rest[1]);
  else throw new Error(`unknown role ${role}`);
  clearTimeout(lifetime);
  process.removeAllListeners('disconnect');
  process.disconnect?.();
}

// Only as the forked script itself: importing this module (for its types, or its run loops from
// bench/mqtt-lean-peer.ts, a forked script with the same arguments) must not start an mqtt.js role.
if (process.send !== undefined && process.argv[1] === fileURLToPath(import.meta.url)) await main();
