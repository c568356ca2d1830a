/**
 * The amqplib actor of the lifecycle test: a durable queue nobody deletes, a confirm channel publishing
 * persistent messages into it, and a consumer with prefetch that acks, requeues now and then, and is
 * replaced by a new connection now and then (its unacknowledged messages come back flagged redelivered).
 */
import amqp from 'amqplib';
import type { Random } from '../fuzz/random.js';
import { type Faults, type Incarnation, type Ledger, Names } from './model.js';

export const stableQueue = 'lc.stable';

export class StableActor {
  readonly queues = new Names();
  readonly inc: Incarnation;
  readonly #ledger: Ledger;
  readonly #faults: Faults;
  #url = '';
  #publisher!: amqp.ChannelModel;
  #channel!: amqp.ConfirmChannel;
  #consumer: { connection: amqp.ChannelModel; channel: amqp.Channel } | undefined;
  readonly #closing = new WeakSet<amqp.ChannelModel>();
  #seq = 0;
  #unconfirmed = 0;
  #random!: Random;

  constructor(ledger: Ledger) {
    this.#ledger = ledger;
    this.#faults = ledger.faults;
    this.inc = this.queues.declare(stableQueue, 'queue', true);
  }

  async open(port: number, random: Random): Promise<void> {
    this.#url = `amqp://guest:guest@127.0.0.1:${port}`;
    this.#random = random;
    this.#publisher = await amqp.connect(this.#url);
    this.#publisher.on('error', (err) => this.#faults.add(`stable publisher: ${String(err)}`));
    this.#channel = await this.#publisher.createConfirmChannel();
    await this.#channel.assertQueue(stableQueue, { durable: true });
  }

  async #consume(): Promise<void> {
    const connection = await amqp.connect(this.#url);
    connection.on('error', (err) => this.#faults.add(`stable consumer: ${String(err)}`));
    const ch = await connection.createChannel();
    await ch.prefetch(20);
    await ch.consume(stableQueue, (m) => {
      if (m === null) {
        this.#faults.add('stable consumer cancelled by the broker');
        return;
      }
      const id = m.content.toString();
      this.#ledger.deliver(id, this.inc, m.fields.redelivered);
      // Once connection.close is sent the broker ignores everything but close-ok (an ack too): what
      // arrives now goes back to the queue, redelivered.
      if (this.#closing.has(connection)) return;
      if (this.#random.chance(0.9)) {
        this.inc.removed.add(id);
        ch.ack(m);
      } else ch.nack(m, false, true);
    });
    this.#consumer = { connection, channel: ch };
  }

  async step(random: Random): Promise<void> {
    if (this.#consumer === undefined) await this.#consume();
    if (random.chance(0.03)) {
      // A new consumer joins and the old one leaves; what it held unacknowledged returns, redelivered.
      const old = this.#consumer!;
      await this.#consume();
      await this.#closeConsumer(old);
      return;
    }
    while (this.#unconfirmed > 100) await new Promise((r) => setTimeout(r, 5));
    const id = `stable.${++this.#seq}`;
    this.#ledger.publish(id, [this.inc]);
    this.#unconfirmed++;
    this.#channel.sendToQueue(stableQueue, Buffer.from(id), { persistent: true, messageId: id }, (err) => {
      this.#unconfirmed--;
      this.#ledger.settle(id, err === null || err === undefined);
    });
  }

  /** Stops consuming and waits for every confirm. */
  async settle(timeoutMs: number): Promise<boolean> {
    if (this.#consumer !== undefined) await this.#closeConsumer(this.#consumer);
    this.#consumer = undefined;
    const deadline = Date.now() + timeoutMs;
    while (this.#unconfirmed > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    if (this.#unconfirmed > 0) this.#faults.add(`stable: ${this.#unconfirmed} publishes never confirmed`);
    return this.#unconfirmed === 0;
  }

  /** Reads the queue to its end: exactly the confirmed messages not acknowledged. */
  async drain(): Promise<void> {
    const got = new Set<string>();
    for (;;) {
      const m = await this.#channel.get(stableQueue, { noAck: true });
      if (m === false) break;
      got.add(m.content.toString());
    }
    const missing = this.inc.remaining().filter((id) => !got.has(id));
    if (missing.length > 0) this.#faults.add(`${this.inc.label}: ${missing.length} confirmed messages lost`);
    const back = [...got].filter((id) => this.inc.removed.has(id));
    if (back.length > 0)
      this.#faults.add(`${this.inc.label}: ${back.length} acknowledged messages came back`);
  }

  /**
   * amqplib writes connection.close ahead of channel frames still buffered, and the broker ignores
   * acks after it; closing the channel first puts the close behind the acks on the same channel.
   */
  async #closeConsumer(consumer: { connection: amqp.ChannelModel; channel: amqp.Channel }): Promise<void> {
    this.#closing.add(consumer.connection);
    await consumer.channel.close().catch(() => {});
    await consumer.connection.close().catch(() => {});
  }

  async close(): Promise<void> {
    if (this.#consumer !== undefined) await this.#closeConsumer(this.#consumer);
    await this.#publisher.close().catch(() => {});
  }
}
