/**
 * MQTT actors of the lifecycle test: each owns one client id and keeps replacing its connection —
 * takeovers while the old connection is still up, clean start 0 or 1, session expiry 0 or 300 s, v5
 * and 3.1.1 — while a publisher keeps QoS 1 and 2 messages to its topic in flight. Routing races
 * cannot be modelled exactly, so the checks use what causality fixes:
 *  - a session incarnation (a clean start, or a CONNACK without Session Present) never receives a
 *    message whose PUBACK/PUBCOMP came back before its CONNECT was sent (that one went to the old one);
 *  - a message arrives twice in one incarnation only flagged DUP;
 *  - Session Present is what the previous connection's session settings say, where they say it;
 *  - the last incarnation receives every confirmed message published after its first SUBACK.
 */
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import type { Random } from '../fuzz/random.js';
import { type Faults, type Incarnation, Names } from './model.js';

interface Sent {
  readonly id: string;
  readonly sentAt: number;
  confirmedAt?: number;
}

interface Epoch {
  readonly client: MqttClient;
  readonly inc: Incarnation;
  readonly persistent: boolean;
  /** performance.now() when connect was called: a lower bound of when the broker saw CONNECT. */
  readonly connectAt: number;
  /** Ended by our DISCONNECT (not a takeover) before the next connection. */
  ended: boolean;
}

interface SessionFacts {
  beganAt: number;
  subackAt?: number;
  readonly received: Map<string, number>;
}

const now = () => performance.now();

/**
 * The QoS 2 messages a client id has received but not yet released (PUBREC sent, PUBREL awaited),
 * kept across its connections as a client with durable state would: a PUBREL may reach the
 * connection after the one that got the PUBLISH. mqtt.js closes its store when a client ends, so
 * this one ignores close.
 */
class SessionStore extends mqtt.Store {
  override close(cb: () => void): void {
    cb?.();
  }
}

/** The one publisher: QoS 1 and 2 messages to the actors' topics, confirmations timed. */
export class MqttPublisher {
  readonly sent = new Map<string, Sent[]>();
  #client!: MqttClient;
  #seq = 0;
  #inflight = 0;

  async open(url: string): Promise<void> {
    this.#client = await mqtt.connectAsync(url, {
      protocolVersion: 5,
      clientId: 'lc-publisher',
      reconnectPeriod: 0,
    });
  }

  async step(random: Random, topics: readonly string[]): Promise<void> {
    while (this.#inflight > 200) await new Promise((r) => setTimeout(r, 5));
    const topic = random.pick(topics);
    const id = `p.${++this.#seq}`;
    const entry: Sent = { id, sentAt: now() };
    const list = this.sent.get(topic) ?? [];
    list.push(entry);
    this.sent.set(topic, list);
    this.#inflight++;
    this.#client.publish(topic, id, { qos: random.chance(0.5) ? 1 : 2 }, (err) => {
      this.#inflight--;
      if (err === undefined || err === null) entry.confirmedAt = now();
    });
  }

  async settle(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.#inflight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    return this.#inflight === 0;
  }

  async close(): Promise<void> {
    await this.#client.endAsync();
  }
}

export class MqttActor {
  readonly id: string;
  readonly topic: string;
  readonly sessions = new Names();
  readonly #faults: Faults;
  readonly #url: string;
  readonly #facts = new Map<Incarnation, SessionFacts>();
  readonly #store = new SessionStore();
  /** The connection up now, if any. */
  #epoch: Epoch | undefined;
  /** The last connection that got a CONNACK; undefined when what the broker did is unknown. */
  #last: Epoch | undefined;
  #lastReceiptAt = 0;
  connects = 0;

  constructor(id: string, url: string, faults: Faults) {
    this.id = id;
    this.topic = `lc/m/${id}`;
    this.#url = url;
    this.#faults = faults;
  }

  get clientId(): string {
    return `lc-m-${this.id}`;
  }

  async step(random: Random): Promise<void> {
    const roll = random.below(100);
    if (this.#epoch === undefined || roll < 25) await this.#connect(random);
    else if (roll < 35) await this.#disconnect();
    else await new Promise((r) => setTimeout(r, random.between(1, 10)));
  }

  async #disconnect(): Promise<void> {
    const epoch = this.#epoch;
    if (epoch === undefined) return;
    epoch.ended = true;
    this.#epoch = undefined;
    await epoch.client.endAsync().catch(() => {});
  }

  /** A new connection for the client id; the old one, if up, is taken over. */
  async #connect(random: Random): Promise<void> {
    const version = random.chance(0.8) ? 5 : 4;
    const clean = random.chance(0.3);
    const expiry = random.chance(0.6) ? 300 : 0;
    const persistent = version === 5 ? expiry > 0 : !clean;
    const options: IClientOptions = {
      protocolVersion: version,
      clientId: this.clientId,
      clean,
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      incomingStore: this.#store,
      ...(version === 5 ? { properties: { sessionExpiryInterval: expiry } } : {}),
    };
    const connectAt = now();
    const client = mqtt.connect(this.#url, options);
    client.on('error', () => {});
    const connack = await new Promise<{ sessionPresent: boolean } | undefined>((resolve) => {
      client.once('connect', (packet) => resolve({ sessionPresent: packet.sessionPresent }));
      client.once('close', () => resolve(undefined));
    });
    this.connects++;
    if (connack === undefined) {
      this.#faults.add(`${this.clientId}: the connection closed before CONNACK`);
      this.#last = undefined;
      return;
    }
    const inc = this.#incarnation(clean, connack.sessionPresent, connectAt);
    const epoch: Epoch = { client, inc, persistent, connectAt, ended: false };
    this.#epoch = epoch;
    this.#last = epoch;
    client.on('message', (_topic, payload, packet) => this.#receive(epoch, payload.toString(), packet));
    await client.subscribeAsync(this.topic, { qos: random.chance(0.5) ? 1 : 2 }).then(
      () => {
        const facts = this.#facts.get(inc)!;
        facts.subackAt ??= now();
      },
      () => {},
    );
  }

  /** The session incarnation a CONNACK puts the new connection in, checking Session Present. */
  #incarnation(clean: boolean, present: boolean, connectAt: number): Incarnation {
    const last = this.#last;
    if (clean && present) this.#faults.add(`${this.clientId}: clean start answered with Session Present`);
    const owed =
      !clean && last !== undefined && last.persistent && this.sessions.current(this.clientId) !== undefined;
    const gone = !clean && last !== undefined && !last.persistent && last.ended;
    if (owed && !present)
      this.#faults.add(`${this.clientId}: a persistent session was not resumed (Session Present 0)`);
    if (gone && present)
      this.#faults.add(`${this.clientId}: a session that ended at its DISCONNECT was resumed`);
    if (!present || clean) this.sessions.delete(this.clientId);
    const fresh = this.sessions.current(this.clientId) === undefined;
    const inc = this.sessions.declare(this.clientId, 'session', true);
    if (fresh) this.#facts.set(inc, { beganAt: connectAt, received: new Map() });
    return inc;
  }

  #receive(epoch: Epoch, id: string, packet: IPublishPacket): void {
    this.#lastReceiptAt = now();
    const facts = this.#facts.get(epoch.inc)!;
    const sent = this.#publisher?.sent.get(this.topic)?.find((s) => s.id === id);
    if (sent === undefined) {
      this.#faults.add(`${epoch.inc.label}: received ${id}, never published to ${this.topic}`);
      return;
    }
    if (sent.confirmedAt !== undefined && sent.confirmedAt < facts.beganAt)
      this.#faults.add(
        `${epoch.inc.label}: received ${id}, confirmed before this session began (it went to an earlier one)`,
      );
    const times = (facts.received.get(id) ?? 0) + 1;
    facts.received.set(id, times);
    if (times > 1 && packet.dup !== true)
      this.#faults.add(`${epoch.inc.label}: received ${id} again without DUP`);
  }

  #publisher: MqttPublisher | undefined;

  use(publisher: MqttPublisher): void {
    this.#publisher = publisher;
  }

  /** Waits until nothing has arrived for a while, then checks the last incarnation lost nothing. */
  async verify(quietMs: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const inc = this.sessions.current(this.clientId);
    const facts = inc === undefined ? undefined : this.#facts.get(inc);
    const owed = () =>
      (this.#publisher?.sent.get(this.topic) ?? []).filter(
        (s) =>
          facts?.subackAt !== undefined &&
          s.sentAt > facts.subackAt &&
          s.confirmedAt !== undefined &&
          !facts.received.has(s.id),
      );
    while (Date.now() < deadline && (owed().length > 0 || now() - this.#lastReceiptAt < quietMs))
      await new Promise((r) => setTimeout(r, 20));
    const missing = owed();
    if (this.#epoch !== undefined && missing.length > 0)
      this.#faults.add(
        `${inc?.label}: ${missing.length} confirmed messages never arrived, e.g. ${missing
          .slice(0, 3)
          .map((s) => s.id)
          .join(', ')}`,
      );
  }

  async close(): Promise<void> {
    await this.#epoch?.client.endAsync().catch(() => {});
  }
}
