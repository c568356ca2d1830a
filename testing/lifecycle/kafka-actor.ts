/**
 * A Kafka actor of the lifecycle test: one raw connection (Kafka answers in request order), topics it
 * alone owns, and pipelined CreateTopics, DeleteTopics, Produce (acks=-1) and Fetch from offset 0.
 * A produce answer must give the next offset of that incarnation (a new topic starts at 0); a fetch
 * must return a prefix of what was produced to the incarnation it reached, nothing from an earlier one.
 */
import {
  ApiKey,
  decodeRecords,
  encodeRecordBatch,
  splitBatches,
} from '../../src/protocols/kafka/codec/index.js';
import type { Random } from '../fuzz/random.js';
import { WireClient } from '../kafka-wire.js';
import { type Faults, type Incarnation, type Ledger, Names } from './model.js';
import { Window } from './window.js';

// biome-ignore lint/suspicious/noExplicitAny: decoded responses
type Obj = any;

const utf8 = new TextEncoder();
const text = new TextDecoder();

interface Pending {
  readonly apiKey: number;
  readonly version: number;
  readonly handle: (body: Obj) => void;
  readonly done: () => void;
}

export class KafkaActor {
  readonly id: string;
  readonly topics = new Names();
  readonly #ledger: Ledger;
  readonly #faults: Faults;
  readonly #window = new Window(32);
  #wire!: WireClient;
  #pending: Pending[] = [];
  #pumping = false;
  #seq = 0;
  /** Records of each incarnation the broker accepted, in offset order. */
  readonly #accepted = new Map<Incarnation, string[]>();
  dead = false;

  constructor(id: string, ledger: Ledger) {
    this.id = id;
    this.#ledger = ledger;
    this.#faults = ledger.faults;
  }

  async open(port: number): Promise<void> {
    this.#wire = await WireClient.open(port);
    this.#pending = [];
  }

  close(): void {
    this.#wire.close();
  }

  topicName(random: Random): string {
    return `lc-t-${this.id}-${random.below(2)}`;
  }

  async step(random: Random): Promise<void> {
    if (this.dead) return;
    await this.#window.room();
    const name = this.topicName(random);
    const roll = random.below(100);
    if (roll < 12) this.#create(name);
    else if (roll < 22) this.#delete(name);
    else if (roll < 75) this.#produce(name, random);
    else this.#fetch(name);
  }

  /** Sends a request and queues the handling of its answer, which comes in request order. */
  #send(apiKey: number, version: number, body: object, handle: (body: Obj) => void): void {
    let done!: () => void;
    void this.#window.track(new Promise<void>((resolve) => (done = resolve)));
    this.#wire.send(apiKey, version, body);
    this.#pending.push({ apiKey, version, handle, done });
    void this.#pump();
  }

  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#pending.length > 0) {
        const next = this.#pending[0]!;
        const { body } = await this.#wire.receive<Obj>(next.apiKey, next.version, 30_000);
        this.#pending.shift();
        next.handle(body);
        next.done();
      }
    } catch (err) {
      this.#faults.add(`${this.id}: no answer: ${String(err)}`);
      this.dead = true;
      for (const p of this.#pending.splice(0)) p.done();
    } finally {
      this.#pumping = false;
    }
  }

  #create(name: string): void {
    if (this.topics.current(name) !== undefined) return;
    const inc = this.topics.declare(name, 'topic', true);
    this.#accepted.set(inc, []);
    this.#send(
      ApiKey.CreateTopics,
      4,
      {
        topics: [{ name, numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }],
        timeoutMs: 10_000,
        validateOnly: false,
      },
      (body) => {
        const code = body.topics[0]?.errorCode;
        if (code !== 0) this.#faults.add(`${inc.label}: CreateTopics answered error ${code}`);
      },
    );
  }

  #delete(name: string): void {
    const inc = this.topics.delete(name);
    if (inc === undefined) return;
    this.#send(ApiKey.DeleteTopics, 3, { topicNames: [name], timeoutMs: 10_000 }, (body) => {
      const code = body.responses[0]?.errorCode;
      if (code !== 0) this.#faults.add(`${inc.label}: DeleteTopics answered error ${code}`);
    });
  }

  #produce(name: string, random: Random): void {
    const inc = this.topics.current(name);
    if (inc === undefined) return;
    const ids = Array.from({ length: random.between(1, 3) }, () => `${this.id}.${++this.#seq}`);
    for (const id of ids) this.#ledger.publish(id, [inc]);
    const records = encodeRecordBatch({
      baseTimestamp: BigInt(Date.now()),
      records: ids.map((id) => ({ value: utf8.encode(id) })),
    });
    this.#send(
      ApiKey.Produce,
      7,
      { acks: -1, timeoutMs: 10_000, topicData: [{ name, partitionData: [{ index: 0, records }] }] },
      (body) => {
        const answer = body.responses[0]?.partitionResponses[0];
        const ok = answer?.errorCode === 0;
        for (const id of ids) this.#ledger.settle(id, ok);
        if (!ok) {
          if (!inc.deleted) this.#faults.add(`${inc.label}: Produce answered error ${answer?.errorCode}`);
          return;
        }
        const accepted = this.#accepted.get(inc)!;
        if (!inc.deleted && Number(answer.baseOffset) !== accepted.length)
          this.#faults.add(
            `${inc.label}: produce got offset ${answer.baseOffset}, expected ${accepted.length}`,
          );
        accepted.push(...ids);
      },
    );
  }

  #fetch(name: string): void {
    const inc = this.topics.current(name);
    if (inc === undefined) return;
    this.#send(ApiKey.Fetch, 11, fetchBody(name), (body) => this.#checkFetched(inc, body, false));
  }

  /** What a fetch from offset 0 returned: records of `inc` only, in produce order, no gaps. */
  #checkFetched(inc: Incarnation, body: Obj, whole: boolean): void {
    const partition = body.responses[0]?.partitions[0];
    if (partition === undefined || partition.errorCode !== 0) {
      if (!inc.deleted) this.#faults.add(`${inc.label}: Fetch answered error ${partition?.errorCode}`);
      return;
    }
    const ids = recordValues(partition.records);
    for (const id of ids) if (!this.#ledger.routedTo(id, inc)) return;
    // Mid-run, records of a produce not yet answered may show (its answer can still be an error, when a
    // pipelined delete closes the log under it): the fetch must be a prefix of what was sent. At the end,
    // with nothing in flight, it must be exactly what was accepted.
    const accepted = this.#accepted.get(inc) ?? [];
    const expected = whole ? accepted : inc.routed;
    const differ = ids.findIndex((id, i) => expected[i] !== id);
    if (differ >= 0)
      this.#faults.add(
        `${inc.label}: fetched ${ids.length} records; at offset ${differ} ${ids[differ]}, but ${expected[differ] ?? 'nothing'} was produced there`,
      );
    if (whole) {
      if (ids.length !== accepted.length)
        this.#faults.add(
          `${inc.label}: the topic holds ${ids.length} records, ${accepted.length} were accepted`,
        );
      if (Number(partition.highWatermark) !== accepted.length)
        this.#faults.add(
          `${inc.label}: high watermark ${partition.highWatermark}, ${accepted.length} records accepted`,
        );
    }
  }

  async settle(timeoutMs: number): Promise<boolean> {
    const ok = await this.#window.drained(timeoutMs);
    if (!ok) this.#faults.add(`${this.id}: ${this.#window.inflight} answers never came`);
    return ok && !this.dead;
  }

  /** Fetches every live topic whole and compares it with what the broker accepted. */
  async verify(): Promise<void> {
    for (const inc of this.topics.live()) {
      const body = await this.#wire.request<Obj>(ApiKey.Fetch, 11, fetchBody(inc.name));
      this.#checkFetched(inc, body, true);
    }
  }
}

function fetchBody(topic: string): object {
  return {
    replicaId: -1,
    maxWaitMs: 0,
    minBytes: 0,
    maxBytes: 1 << 24,
    isolationLevel: 0,
    sessionId: 0,
    sessionEpoch: -1,
    topics: [
      {
        topic,
        partitions: [{ partition: 0, fetchOffset: 0n, logStartOffset: -1n, partitionMaxBytes: 1 << 24 }],
      },
    ],
    forgottenTopicsData: [],
    rackId: '',
  };
}

function recordValues(records: Uint8Array | null): string[] {
  if (records === null || records.byteLength === 0) return [];
  const ids: string[] = [];
  for (const span of splitBatches(records, 100_000).batches)
    for (const record of decodeRecords(records, span.offset))
      ids.push(text.decode(record.value ?? new Uint8Array(0)));
  return ids;
}
