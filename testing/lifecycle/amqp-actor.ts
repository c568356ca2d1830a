/**
 * An AMQP actor of the lifecycle test: one pipelined connection, one confirm-mode channel, and the
 * queues, stream queues and direct exchanges it alone owns. It declares, deletes and re-declares them,
 * binds and unbinds, publishes persistent messages, reads with basic.get (acking or requeueing) and
 * consumes streams from the first offset — all without waiting for replies — and checks every reply
 * and delivery against the model.
 */
import type { Method } from '../../src/protocols/amqp/codec/index.js';
import type { Random } from '../fuzz/random.js';
import { AmqpPipe, type Delivery, isDelivery } from './amqp-pipe.js';
import { type Faults, type Incarnation, type Ledger, Names } from './model.js';
import { Window } from './window.js';

const channel = 1;
const prefetch = 50;

/** basic.consume of a stream from its first offset. */
function fromFirst(queue: string, consumerTag: string): Method {
  return {
    name: 'basic.consume',
    fields: {
      ticket: 0,
      queue,
      consumerTag,
      noLocal: false,
      noAck: false,
      exclusive: false,
      noWait: false,
      arguments: { 'x-stream-offset': 'first' },
    },
  };
}

interface Binding {
  readonly exchange: Incarnation;
  readonly queue: Incarnation;
  readonly key: string;
}

interface StreamConsumer {
  readonly inc: Incarnation;
  last: number;
}

export class AmqpActor {
  readonly id: string;
  readonly queues = new Names();
  readonly exchanges = new Names();
  readonly #ledger: Ledger;
  readonly #faults: Faults;
  readonly #window = new Window(64);
  #pipe!: AmqpPipe;
  #bindings: Binding[] = [];
  #consumers = new Map<string, StreamConsumer>();
  #unconfirmed = new Map<number, string>();
  #publishTag = 0;
  #seq = 0;
  #consumerSeq = 0;
  /** The consumer reading a stream to its end, and what it read. */
  #draining: { consumerTag: string; got: string[] } | undefined;
  dead = false;

  constructor(id: string, ledger: Ledger) {
    this.id = id;
    this.#ledger = ledger;
    this.#faults = ledger.faults;
  }

  async open(port: number): Promise<void> {
    this.#pipe = await AmqpPipe.open(port, {
      onMethod: (ch, method) => this.#onMethod(ch, method),
      onDelivery: (ch, delivery) => this.#onDelivery(ch, delivery),
    });
    this.#publishTag = 0;
    this.#unconfirmed.clear();
    this.#consumers.clear();
    await this.#pipe.call(channel, { name: 'channel.open', fields: { outOfBand: '' } }, ['channel.open-ok']);
    await this.#pipe.call(channel, { name: 'confirm.select', fields: { noWait: false } }, [
      'confirm.select-ok',
    ]);
    await this.#pipe.call(
      channel,
      { name: 'basic.qos', fields: { prefetchSize: 0, prefetchCount: prefetch, global: false } },
      ['basic.qos-ok'],
    );
  }

  close(): void {
    this.#pipe.close();
  }

  // ---- names ----------------------------------------------------------------------------------

  queueName(random: Random): string {
    return `lc.q.${this.id}.${random.below(3)}`;
  }

  streamName(random: Random): string {
    return `lc.s.${this.id}.${random.below(2)}`;
  }

  exchangeName(random: Random): string {
    return `lc.x.${this.id}.${random.below(2)}`;
  }

  // ---- one step -------------------------------------------------------------------------------

  /** One random operation, sent at once; waits only when too many replies are outstanding. */
  async step(random: Random): Promise<void> {
    if (this.dead) return;
    await this.#window.room();
    const roll = random.below(100);
    if (roll < 30) this.#publish(random);
    else if (roll < 44) this.#get(random);
    else if (roll < 52) this.#declareQueue(this.queueName(random), random.chance(0.5), 'queue');
    else if (roll < 58) this.#deleteQueue(this.queueName(random));
    else if (roll < 62) this.#declareQueue(this.streamName(random), true, 'stream');
    else if (roll < 65) this.#deleteQueue(this.streamName(random));
    else if (roll < 70) this.#consume(random);
    else if (roll < 72) this.#cancel(random);
    else if (roll < 77) this.#declareExchange(this.exchangeName(random), random.chance(0.5));
    else if (roll < 80) this.#deleteExchange(this.exchangeName(random));
    else if (roll < 92) this.#bind(random);
    else this.#unbind(random);
  }

  #call(method: Method, replies: readonly string[]): Promise<Method | Delivery> {
    return this.#window.track(this.#pipe.call(channel, method, replies));
  }

  #declareQueue(name: string, durable: boolean, kind: 'queue' | 'stream'): void {
    const existing = this.queues.current(name);
    if (existing !== undefined && existing.kind !== kind) return;
    const inc = this.queues.declare(name, kind, existing?.durable ?? durable);
    const args = kind === 'stream' ? { 'x-queue-type': 'stream' } : {};
    const fresh = existing === undefined;
    void this.#call(
      {
        name: 'queue.declare',
        fields: {
          ticket: 0,
          queue: name,
          passive: false,
          durable: inc.durable,
          exclusive: false,
          autoDelete: false,
          noWait: false,
          arguments: args,
        },
      },
      ['queue.declare-ok'],
    ).then((reply) => {
      const count = !isDelivery(reply) && reply.name === 'queue.declare-ok' ? reply.fields.messageCount : -1;
      if (fresh && count !== 0)
        this.#faults.add(`${inc.label}: declared afresh, it reports ${count} messages`);
    });
  }

  #deleteQueue(name: string): void {
    const inc = this.queues.delete(name);
    this.#bindings = this.#bindings.filter((b) => b.queue !== inc);
    for (const [tag, c] of this.#consumers) if (c.inc === inc) this.#consumers.delete(tag);
    void this.#call(
      {
        name: 'queue.delete',
        fields: { ticket: 0, queue: name, ifUnused: false, ifEmpty: false, noWait: false },
      },
      ['queue.delete-ok'],
    );
  }

  #declareExchange(name: string, durable: boolean): void {
    const inc = this.exchanges.declare(name, 'exchange', this.exchanges.current(name)?.durable ?? durable);
    void this.#call(
      {
        name: 'exchange.declare',
        fields: {
          ticket: 0,
          exchange: name,
          type: 'direct',
          passive: false,
          durable: inc.durable,
          autoDelete: false,
          internal: false,
          noWait: false,
          arguments: {},
        },
      },
      ['exchange.declare-ok'],
    );
  }

  #deleteExchange(name: string): void {
    const inc = this.exchanges.delete(name);
    if (inc === undefined) return;
    this.#bindings = this.#bindings.filter((b) => b.exchange !== inc);
    void this.#call(
      { name: 'exchange.delete', fields: { ticket: 0, exchange: name, ifUnused: false, noWait: false } },
      ['exchange.delete-ok'],
    );
  }

  #bind(random: Random): void {
    const exchange = this.exchanges.current(this.exchangeName(random));
    const queue = this.queues.current(random.chance(0.7) ? this.queueName(random) : this.streamName(random));
    if (exchange === undefined || queue === undefined) return;
    const key = `k${random.below(2)}`;
    if (!this.#bindings.some((b) => b.exchange === exchange && b.queue === queue && b.key === key))
      this.#bindings.push({ exchange, queue, key });
    void this.#call(
      {
        name: 'queue.bind',
        fields: {
          ticket: 0,
          queue: queue.name,
          exchange: exchange.name,
          routingKey: key,
          noWait: false,
          arguments: {},
        },
      },
      ['queue.bind-ok'],
    );
  }

  #unbind(random: Random): void {
    if (this.#bindings.length === 0) return;
    const b = random.pick(this.#bindings);
    this.#bindings = this.#bindings.filter((x) => x !== b);
    void this.#call(
      {
        name: 'queue.unbind',
        fields: {
          ticket: 0,
          queue: b.queue.name,
          exchange: b.exchange.name,
          routingKey: b.key,
          arguments: {},
        },
      },
      ['queue.unbind-ok'],
    );
  }

  #publish(random: Random): void {
    const id = `${this.id}.${++this.#seq}`;
    let exchange = '';
    let key: string;
    let targets: Incarnation[];
    const viaExchange = random.chance(0.4) ? this.exchanges.current(this.exchangeName(random)) : undefined;
    if (viaExchange !== undefined) {
      exchange = viaExchange.name;
      key = `k${random.below(2)}`;
      targets = [
        ...new Set(
          this.#bindings.filter((b) => b.exchange === viaExchange && b.key === key).map((b) => b.queue),
        ),
      ];
    } else {
      key = random.chance(0.7) ? this.queueName(random) : this.streamName(random);
      const inc = this.queues.current(key);
      targets = inc === undefined ? [] : [inc];
    }
    this.#ledger.publish(id, targets);
    this.#unconfirmed.set(++this.#publishTag, id);
    this.#pipe.publish(channel, exchange, key, id, { deliveryMode: 2, messageId: id });
  }

  #get(random: Random): void {
    const inc = this.queues.current(this.queueName(random));
    if (inc === undefined || inc.kind !== 'queue') return;
    void this.#call({ name: 'basic.get', fields: { ticket: 0, queue: inc.name, noAck: false } }, [
      'basic.get-ok',
      'basic.get-empty',
    ]).then((reply) => {
      if (!isDelivery(reply) || reply.method.name !== 'basic.get-ok') return;
      const id = reply.body.toString();
      const { deliveryTag, redelivered } = reply.method.fields;
      this.#ledger.deliver(id, inc, redelivered);
      if (random.chance(0.85)) {
        inc.removed.add(id);
        this.#pipe.send(channel, { name: 'basic.ack', fields: { deliveryTag, multiple: false } });
      } else {
        this.#pipe.send(channel, {
          name: 'basic.nack',
          fields: { deliveryTag, multiple: false, requeue: true },
        });
      }
    });
  }

  #consume(random: Random): void {
    const inc = this.queues.current(this.streamName(random));
    if (inc === undefined || inc.kind !== 'stream') return;
    const consumerTag = `c${++this.#consumerSeq}`;
    this.#consumers.set(consumerTag, { inc, last: -1 });
    void this.#call(fromFirst(inc.name, consumerTag), ['basic.consume-ok']);
  }

  #cancel(random: Random): void {
    const tags = [...this.#consumers.keys()];
    if (tags.length === 0) return;
    const consumerTag = random.pick(tags);
    this.#consumers.delete(consumerTag);
    void this.#call({ name: 'basic.cancel', fields: { consumerTag, noWait: false } }, ['basic.cancel-ok']);
  }

  // ---- from the broker --------------------------------------------------------------------------

  #onMethod(ch: number, method: Method): void {
    if (method.name === 'basic.ack' || method.name === 'basic.nack') {
      const ok = method.name === 'basic.ack';
      const { deliveryTag, multiple } = method.fields;
      for (const [tag, id] of this.#unconfirmed) {
        if (tag > deliveryTag || (!multiple && tag !== deliveryTag)) continue;
        this.#ledger.settle(id, ok);
        this.#unconfirmed.delete(tag);
      }
      return;
    }
    if (method.name === 'basic.cancel') {
      this.#consumers.delete(method.fields.consumerTag);
      return;
    }
    if (method.name === 'channel.close' || method.name === 'connection.close') {
      this.#faults.add(
        `${this.id}: the broker sent ${method.name} on channel ${ch}: ${JSON.stringify(method.fields)}`,
      );
      this.dead = true;
    }
  }

  #onDelivery(_ch: number, delivery: Delivery): void {
    if (delivery.method.name !== 'basic.deliver') return;
    const { consumerTag, deliveryTag } = delivery.method.fields;
    this.#pipe.send(channel, { name: 'basic.ack', fields: { deliveryTag, multiple: false } });
    const consumer = this.#consumers.get(consumerTag);
    if (consumer === undefined) return; // cancelled by us; deliveries may still be on their way
    const id = delivery.body.toString();
    if (this.#draining?.consumerTag === consumerTag) this.#draining.got.push(id);
    if (!this.#ledger.routedTo(id, consumer.inc)) return;
    const index = consumer.inc.routed.indexOf(id);
    if (index <= consumer.last)
      this.#faults.add(`${consumer.inc.label}: consumer ${consumerTag} got ${id} out of order or twice`);
    consumer.last = index;
  }

  // ---- the end ----------------------------------------------------------------------------------

  /** Cancels consumers and waits for every reply and confirm; false when they did not all come. */
  async settle(timeoutMs: number): Promise<boolean> {
    for (const consumerTag of [...this.#consumers.keys()]) {
      this.#consumers.delete(consumerTag);
      void this.#call({ name: 'basic.cancel', fields: { consumerTag, noWait: false } }, ['basic.cancel-ok']);
    }
    const deadline = Date.now() + timeoutMs;
    const replied = await this.#window.drained(timeoutMs);
    while (this.#unconfirmed.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    if (!replied) this.#faults.add(`${this.id}: ${this.#window.inflight} replies never came`);
    if (this.#unconfirmed.size > 0)
      this.#faults.add(`${this.id}: ${this.#unconfirmed.size} publishes never confirmed`);
    return replied && this.#unconfirmed.size === 0 && !this.dead;
  }

  /** After a restart: non-durable queues and exchanges are gone, durable ones keep their messages. */
  restarted(): void {
    for (const inc of this.queues.live()) if (!inc.durable) this.queues.delete(inc.name);
    for (const inc of this.exchanges.live()) if (!inc.durable) this.exchanges.delete(inc.name);
    this.#bindings = [];
  }

  /** Reads every live queue to its end and compares with the model. */
  async drain(): Promise<void> {
    for (const inc of this.queues.live()) {
      if (inc.kind === 'queue') await this.#drainQueue(inc);
      else await this.#readStream(inc);
    }
  }

  async #drainQueue(inc: Incarnation): Promise<void> {
    const got = new Set<string>();
    for (;;) {
      const reply = await this.#pipe.call(
        channel,
        { name: 'basic.get', fields: { ticket: 0, queue: inc.name, noAck: true } },
        ['basic.get-ok', 'basic.get-empty'],
      );
      if (!isDelivery(reply)) break;
      const id = reply.body.toString();
      if (this.#ledger.routedTo(id, inc) && got.has(id))
        this.#faults.add(`${inc.label}: ${id} is in the queue twice`);
      got.add(id);
    }
    const missing = inc.remaining().filter((id) => !got.has(id));
    if (missing.length > 0)
      this.#faults.add(
        `${inc.label}: ${missing.length} confirmed messages lost, e.g. ${missing.slice(0, 3).join(', ')}`,
      );
    const extra = [...got].filter((id) => inc.removed.has(id) && !inc.refused.has(id));
    if (extra.length > 0)
      this.#faults.add(
        `${inc.label}: ${extra.length} acknowledged messages came back, e.g. ${extra.slice(0, 3).join(', ')}`,
      );
  }

  async #readStream(inc: Incarnation): Promise<void> {
    const consumerTag = `drain-${inc.name}`;
    const got: string[] = [];
    const expected = inc.routed.filter((id) => inc.confirmed.has(id));
    this.#consumers.set(consumerTag, { inc, last: -1 });
    this.#draining = { consumerTag, got };
    await this.#pipe.call(channel, fromFirst(inc.name, consumerTag), ['basic.consume-ok']);
    const deadline = Date.now() + 10_000;
    while (got.length < expected.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 100));
    this.#draining = undefined;
    this.#consumers.delete(consumerTag);
    await this.#pipe.call(channel, { name: 'basic.cancel', fields: { consumerTag, noWait: false } }, [
      'basic.cancel-ok',
    ]);
    const confirmedGot = got.filter((id) => inc.confirmed.has(id));
    if (confirmedGot.join() !== expected.join()) {
      const missing = expected.filter((id) => !got.includes(id));
      this.#faults.add(
        `${inc.label}: read ${got.length} entries, expected the ${expected.length} confirmed in order; missing ${missing.slice(0, 3).join(', ') || 'none'}`,
      );
    }
  }
}
