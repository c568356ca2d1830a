/**
 * The resource monitor: once a second it reads the process's resident memory and the free space of
 * the data folder's file system and raises or clears core's memory and disk alarms, as RabbitMQ's
 * vm_memory_high_watermark and disk_free_limit do. Between readings it counts the bytes storage hands
 * to the disk and raises the disk alarm as soon as the last reading minus those bytes falls below the
 * limit, so a fast publisher cannot write a second's worth past it. Adapters react to the alarms
 * (flow control); this file only measures.
 */
import { statfs } from 'node:fs/promises';
import { totalmem } from 'node:os';
import { resolve } from 'node:path';
import type { Config } from '../config/schema.js';
import type { AlarmKind, Alarms } from '../core/api.js';
import type { Logger } from '../shared/logger.js';
import type { WriteMeter } from '../storage/write-meter.js';

export const alarmCheckIntervalMs = 1000;

/** How the monitor reads the machine; tests replace them. */
export interface AlarmProbes {
  rssBytes(): number;
  diskFreeBytes(dir: string): Promise<number>;
}

export const systemProbes: AlarmProbes = {
  rssBytes: () => process.memoryUsage.rss(),
  async diskFreeBytes(dir) {
    const stats = await statfs(dir);
    // bavail, not bfree: blocks reserved for root are not ours to fill.
    return stats.bavail * stats.bsize;
  },
};

export interface AlarmMonitorOptions {
  readonly alarms: Alarms;
  readonly logger: Logger;
  /** Memory alarm above this RSS; 0: no memory check. */
  readonly memoryBytesMax: number;
  /** Disk alarm below this many free bytes; 0: no disk check. */
  readonly diskFreeBytesMin: number;
  /** The folder whose file system is checked; undefined (memory storage): no disk check. */
  readonly dataDir: string | undefined;
  readonly intervalMs?: number;
  readonly probes?: AlarmProbes;
  /** Storage's write counter; without it the disk is checked on the timer only. */
  readonly writes?: WriteMeter;
}

/** The RSS limit the settings give: bytes when set, else a percent of RAM; 0 when both are off. */
export function memoryBytesMax(
  config: Pick<Config, 'memoryHighWatermarkBytes' | 'memoryHighWatermarkPercent'>,
  ramBytes = totalmem(),
): number {
  if (config.memoryHighWatermarkBytes > 0) return config.memoryHighWatermarkBytes;
  return Math.floor((ramBytes * config.memoryHighWatermarkPercent) / 100);
}

export function monitorOptionsOf(
  config: Readonly<Config>,
  alarms: Alarms,
  logger: Logger,
  writes?: WriteMeter,
): AlarmMonitorOptions {
  return {
    alarms,
    logger,
    memoryBytesMax: memoryBytesMax(config),
    diskFreeBytesMin: config.diskFreeBytesMin,
    dataDir: config.storage === 'file' ? resolve(config.dataDir) : undefined,
    ...(writes === undefined ? {} : { writes }),
  };
}

type Reading = { readonly kind: AlarmKind; readonly over: boolean; readonly facts: Record<string, number> };

/**
 * Changes an alarm only when its own reading crosses the limit, so an alarm set by hand (an operator,
 * a test) holds until the measurement itself moves across the line.
 */
export class AlarmMonitor {
  readonly #options: AlarmMonitorOptions;
  readonly #probes: AlarmProbes;
  readonly #last = new Map<AlarmKind, boolean>();
  #timer: NodeJS.Timeout | undefined;
  #checking: Promise<void> | undefined;
  #diskErrorLogged = false;
  /** The last free-space reading and the write counter then: the base of the estimate between readings. */
  #diskBase: { freeBytes: number; written: number } | undefined;
  #unsubscribeWrites: (() => void) | undefined;

  private constructor(options: AlarmMonitorOptions) {
    this.#options = options;
    this.#probes = options.probes ?? systemProbes;
  }

  /** Checks once before returning, so a broker that starts short of disk starts with its alarm set. */
  static async start(options: AlarmMonitorOptions): Promise<AlarmMonitor> {
    const monitor = new AlarmMonitor(options);
    await monitor.check();
    monitor.#timer = setInterval(() => void monitor.check(), options.intervalMs ?? alarmCheckIntervalMs);
    monitor.#timer.unref();
    monitor.#unsubscribeWrites = options.writes?.onWrite(() => monitor.#afterWrite());
    return monitor;
  }

  /** One round of readings; a round still running (a slow statfs) is joined, not doubled. */
  check(): Promise<void> {
    this.#checking ??= this.#round().finally(() => {
      this.#checking = undefined;
    });
    return this.#checking;
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#unsubscribeWrites?.();
  }

  /** Raises the disk alarm between readings once the bytes written since the last one use up the margin. */
  #afterWrite(): void {
    const base = this.#diskBase;
    const { writes, diskFreeBytesMin } = this.#options;
    if (base === undefined || writes === undefined || this.#last.get('disk') === true) return;
    const estimatedFreeBytes = base.freeBytes - (writes.bytes - base.written);
    if (estimatedFreeBytes >= diskFreeBytesMin) return;
    this.#apply({ kind: 'disk', over: true, facts: { estimatedFreeBytes, diskFreeBytesMin } });
  }

  async #round(): Promise<void> {
    const readings = [this.#memory(), await this.#disk()];
    for (const reading of readings) if (reading !== undefined) this.#apply(reading);
  }

  #memory(): Reading | undefined {
    const limitBytes = this.#options.memoryBytesMax;
    if (limitBytes <= 0) return undefined;
    const rssBytes = this.#probes.rssBytes();
    return { kind: 'memory', over: rssBytes > limitBytes, facts: { rssBytes, limitBytes } };
  }

  async #disk(): Promise<Reading | undefined> {
    const { dataDir, diskFreeBytesMin } = this.#options;
    if (dataDir === undefined || diskFreeBytesMin <= 0) return undefined;
    let freeBytes: number;
    const written = this.#options.writes?.bytes ?? 0;
    try {
      freeBytes = await this.#probes.diskFreeBytes(dataDir);
    } catch (err) {
      // Keep the last state: an unreadable file system is no evidence either way.
      if (!this.#diskErrorLogged) this.#options.logger.warn({ err, dataDir }, 'free disk space unreadable');
      this.#diskErrorLogged = true;
      return undefined;
    }
    this.#diskErrorLogged = false;
    this.#diskBase = { freeBytes, written };
    return { kind: 'disk', over: freeBytes < diskFreeBytesMin, facts: { freeBytes, diskFreeBytesMin } };
  }

  #apply(reading: Reading): void {
    const { kind, over, facts } = reading;
    if (this.#last.get(kind) === over) return;
    const first = !this.#last.has(kind);
    this.#last.set(kind, over);
    if (first && !over) return;
    const { alarms, logger } = this.#options;
    if (over) logger.warn({ alarm: kind, ...facts }, `${kind} alarm set; publishers are blocked`);
    else logger.info({ alarm: kind, ...facts }, `${kind} alarm cleared; publishers resume`);
    try {
      alarms.set(kind, over);
    } catch (err) {
      logger.error({ err, alarm: kind }, 'an alarm listener failed');
    }
  }
}
