/** Helpers for test/core: a broker over MemoryStorage with a ManualClock, and message shorthands. */

import { afterEach } from 'node:test';
import type { CoreClient, CoreLimits, PublishInput } from '../src/core/api.js';
import { BrokerCore } from '../src/core/broker.js';
import { internalContext } from '../src/core/entry/context.js';
import type { VirtualHost } from '../src/core/internal.js';
import type { SettleStoredMarker } from '../src/core/sessions.js';
import type { Delivery, MessageProperties } from '../src/core/types.js';
import { ManualClock } from '../src/shared/clock.js';
import { MemoryStorage } from '../src/storage/memory.js';
import type { Log, Storage } from '../src/storage/types.js';

export interface CoreFixture {
  readonly broker: BrokerCore;
  /** The vhost itself, for tests of its internals (owners are written out in full: `c1/1`). */
  readonly vhost: VirtualHost;
  /** A caller on connection `c1` of vhost `/`: commands go through `execute` as adapters' do. */
  readonly client: CoreClient;
  readonly clock: ManualClock;
  readonly storage: Storage;
}

export async function openCore(
  options: {
    storage?: Storage;
    clock?: ManualClock;
    settleStoredMarker?: SettleStoredMarker;
    limits?: Partial<CoreLimits>;
  } = {},
): Promise<CoreFixture> {
  const storage = options.storage ?? new MemoryStorage();
  const clock = options.clock ?? new ManualClock();
  const { settleStoredMarker, limits } = options;
  const broker = await BrokerCore.open({
    storage,
    clock,
    ...(settleStoredMarker === undefined ? {} : { settleStoredMarker }),
    ...(limits === undefined ? {} : { limits }),
  });
  const client = broker.connect(internalContext('/', 'c1'));
  return { broker, vhost: broker.vhost('/'), client, clock, storage };
}

export function message(body: string, properties: MessageProperties = {}): PublishInput {
  return { body: new TextEncoder().encode(body), properties };
}

export function text(delivery: Delivery | undefined): string | undefined {
  return delivery === undefined ? undefined : new TextDecoder().decode(delivery.message.body);
}

/** Lets queued microtasks and immediate callbacks run (queue opening, deferred deletes). */
export async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** Takes every ready message of `queue` (no-ack), at most `countMax`, and returns their bodies. */
export function drain(vhost: VirtualHost, queue: string, countMax = 1000): string[] {
  const bodies: string[] = [];
  for (let i = 0; i < countMax; i++) {
    const delivery = vhost.get(queue, { noAck: true, owner: 'test/drain' });
    if (delivery === undefined) break;
    bodies.push(text(delivery)!);
  }
  return bodies;
}

/**
 * `storage` whose logs named by `held` report appends made between `hold()` and `release()` durable
 * only at `release()` (until then their `durable` promises stay pending, as while an fdatasync is in
 * flight); other appends, and other logs, as usual.
 */
export function holdDurability(
  storage: Storage,
  held: (name: string) => boolean,
): { storage: Storage; hold(): void; release(): void } {
  let gate: Promise<void> | undefined;
  let open = () => {};
  const wrap = (log: Log): Log =>
    new Proxy(log, {
      get(target, key) {
        const value: unknown = Reflect.get(target, key, target);
        if (key !== 'append') return typeof value === 'function' ? value.bind(target) : value;
        return (input: Parameters<Log['append']>[0]) => {
          const appended = target.append(input);
          const until = gate;
          return until === undefined
            ? appended
            : { ...appended, durable: until.then(() => appended.durable) };
        };
      },
    });
  const wrapped = new Proxy(storage, {
    get(target, key) {
      const value: unknown = Reflect.get(target, key, target);
      if (key !== 'openLog') return typeof value === 'function' ? value.bind(target) : value;
      return async (name: string) => {
        const log = await target.openLog(name);
        return held(name) ? wrap(log) : log;
      };
    },
  });
  return {
    storage: wrapped,
    hold() {
      gate ??= new Promise<void>((resolve) => (open = resolve));
    },
    release() {
      gate = undefined;
      open();
    },
  };
}

/**
 * A core on memory storage and a manual clock for each test of the file that calls this (at its top
 * level): each call of the returned function makes one, closed and opened again for a restart by
 * `open`; the one a test made is closed after it, whatever its outcome.
 */
export function restartableCoreEachTest(limits: Partial<CoreLimits>) {
  let running: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await running?.();
    running = undefined;
  });
  return () => {
    const storage = new MemoryStorage();
    const clock = new ManualClock(1_000);
    let core: BrokerCore | undefined;
    const close = async () => {
      await core?.close();
      core = undefined;
    };
    const open = async (): Promise<CoreClient> => {
      await close();
      core = await BrokerCore.open({ storage, clock, limits });
      return core.connect(internalContext('/', 'c1'));
    };
    running = close;
    return { clock, open };
  };
}
