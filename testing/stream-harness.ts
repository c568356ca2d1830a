/**
 * Helpers for stream tests: a registry over a given storage with a manual clock (its definitions and
 * the vhost's consumer groups opened beside it, as the broker does), a consumer that records what it
 * gets, and a way to let queued wake-ups run.
 */

import { setImmediate as nextTurn } from 'node:timers/promises';
import type { CoreLimits } from '../src/core/api.js';
import { Definitions } from '../src/core/definitions.js';
import type { Supervisor } from '../src/core/exec/supervisor.js';
import { ConsumerGroups } from '../src/core/groups.js';
import type { StreamRegistry } from '../src/core/internal.js';
import { coreLimitsDefault } from '../src/core/limits.js';
import { createStreamRegistry } from '../src/core/logs/index.js';
import { FoundObjects } from '../src/core/state/discover.js';
import {
  type ConsumeOptions,
  type CreditLimit,
  type Delivery,
  headerValue,
  type Message,
} from '../src/core/types.js';
import { ManualClock } from '../src/shared/clock.js';
import type { Storage } from '../src/storage/types.js';
import { testSupervisor } from './exec-helpers.js';

export interface StreamHarness {
  /** Its `close` also closes the groups and the definitions. */
  readonly registry: StreamRegistry;
  /** The vhost's consumer groups: committed offsets go here, and go with a deleted stream. */
  readonly groups: ConsumerGroups;
  readonly clock: ManualClock;
}

export async function openStreams(
  storage: Storage,
  options: { vhost?: string; clock?: ManualClock; limits?: Partial<CoreLimits> } = {},
): Promise<StreamHarness> {
  const clock = options.clock ?? new ManualClock();
  const limits = { ...coreLimitsDefault, ...options.limits };
  const supervisor = testSupervisor(clock);
  const vhost = options.vhost ?? '/';
  const definitions = await sharedDefinitions(storage, supervisor);
  const found = await FoundObjects.discover(storage);
  const retentionMs = limits.offsetsRetentionMinutes * 60_000;
  const groups = await ConsumerGroups.open(
    { vhost, storage, supervisor },
    found.take(vhost, 'group'),
    retentionMs,
  );
  await found.closeRest();
  const registry = await createStreamRegistry({
    vhost,
    storage,
    clock,
    limits,
    supervisor,
    definitions,
    streamDeleted: (stream) => groups.dropStream(stream),
  });
  const close = registry.close.bind(registry);
  let closed = false;
  registry.close = async () => {
    await close();
    await groups.close();
    if (!closed) await releaseDefinitions(storage);
    closed = true;
  };
  return { registry, groups, clock };
}

/** Registries of several vhosts on one storage share its one definitions log, as in a broker. */
const definitionsOf = new WeakMap<Storage, { definitions: Promise<Definitions>; users: number }>();

function sharedDefinitions(storage: Storage, supervisor: Supervisor): Promise<Definitions> {
  const shared = definitionsOf.get(storage) ?? {
    definitions: Definitions.open(storage, supervisor),
    users: 0,
  };
  shared.users++;
  definitionsOf.set(storage, shared);
  return shared.definitions;
}

async function releaseDefinitions(storage: Storage): Promise<void> {
  const shared = definitionsOf.get(storage);
  if (shared === undefined || --shared.users > 0) return;
  definitionsOf.delete(storage);
  await (await shared.definitions).close();
}

/** Lets microtasks and immediates run (deliveries are scheduled, never made inside the caller). */
export async function settle(turns = 3): Promise<void> {
  for (let i = 0; i < turns; i++) await nextTurn();
}

export function textMessage(text: string, routingKey = 'k'): Message {
  return { exchange: '', routingKey, body: new TextEncoder().encode(text), properties: {} };
}

export function bodyText(delivery: Delivery): string {
  return new TextDecoder().decode(delivery.message.body);
}

/** Consume options that record deliveries and cancellations into the returned arrays. */
/** The stream offset a stream-queue delivery carries (its `x-stream-offset` header; delivery ids are not offsets). */
export function offsetOf(delivery: Delivery): number {
  return Number(headerValue(delivery.message.properties.headers, 'x-stream-offset'));
}

export function recordingConsumer(
  tag: string,
  options: Partial<ConsumeOptions> = {},
): { options: ConsumeOptions; deliveries: Delivery[]; cancelled: string[] } {
  const deliveries: Delivery[] = [];
  const cancelled: string[] = [];
  return {
    deliveries,
    cancelled,
    options: {
      tag,
      owner: 'channel-1',
      prefetch: 10,
      ...options,
      deliver: (delivery) => deliveries.push(delivery),
      cancelled: (reason) => cancelled.push(reason),
    },
  };
}

/** A shared limit like a channel-wide prefetch, counting what is held. */
export function creditLimit(max: number): CreditLimit & { readonly used: number } {
  let used = 0;
  const listeners = new Set<() => void>();
  return {
    get used() {
      return used;
    },
    hasRoom: () => used < max,
    take: () => {
      used++;
    },
    release: (count) => {
      used -= count;
      for (const listener of [...listeners]) listener();
    },
    onRoom: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
