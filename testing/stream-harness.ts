/**
 * Helpers for stream tests: a registry over a given storage with a manual clock, a consumer that
 * records what it gets, and a way to let queued wake-ups run.
 */

import { setImmediate as nextTurn } from 'node:timers/promises';
import type { CoreLimits } from '../src/core/api.js';
import type { StreamRegistry } from '../src/core/internal.js';
import { coreLimitsDefault } from '../src/core/limits.js';
import { createStreamRegistry } from '../src/core/logs/index.js';
import type { ConsumeOptions, CreditLimit, Delivery, Message } from '../src/core/types.js';
import { ManualClock } from '../src/shared/clock.js';
import type { Storage } from '../src/storage/types.js';
import { testSupervisor } from './exec-helpers.js';

export interface StreamHarness {
  readonly registry: StreamRegistry;
  readonly clock: ManualClock;
}

export async function openStreams(
  storage: Storage,
  options: { vhost?: string; clock?: ManualClock; limits?: Partial<CoreLimits> } = {},
): Promise<StreamHarness> {
  const clock = options.clock ?? new ManualClock();
  const limits = { ...coreLimitsDefault, ...options.limits };
  const supervisor = testSupervisor(clock);
  const registry = await createStreamRegistry({
    vhost: options.vhost ?? '/',
    storage,
    clock,
    limits,
    supervisor,
  });
  return { registry, clock };
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
  return Number(delivery.message.properties.headers?.['x-stream-offset']);
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
