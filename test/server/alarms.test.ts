/**
 * Resource alarms: core's hub (set, active, subscribe), the server's monitor (memory over the
 * watermark, disk under the free-space minimum, one log line per change) and a broker started short of
 * disk, which starts with its disk alarm set.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { AlarmHub } from '../../src/core/alarms.js';
import type { AlarmKind } from '../../src/core/api.js';
import { Broker } from '../../src/index.js';
import {
  AlarmMonitor,
  type AlarmMonitorOptions,
  type AlarmProbes,
  memoryBytesMax,
} from '../../src/server/alarms.js';
import type { Logger } from '../../src/shared/logger.js';
import { WriteMeter } from '../../src/storage/write-meter.js';
import { adminFetch, allPortsOff } from '../../testing/server-helpers.js';

interface Line {
  level: number;
  msg: string;
  alarm?: string;
}

function capturingLogger(): { logger: Logger; lines: Line[] } {
  const lines: Line[] = [];
  const logger = pino({ level: 'info' }, { write: (text: string) => void lines.push(JSON.parse(text)) });
  return { logger, lines };
}

/** A monitor with a 100-byte RSS limit and a 500-byte free-disk minimum over `probes`. */
function limitedMonitor(alarms: AlarmHub, logger: Logger, probes: AlarmProbes): AlarmMonitorOptions {
  return { alarms, logger, memoryBytesMax: 100, diskFreeBytesMin: 500, dataDir: '/data', probes };
}

const warn = 40;
const info = 30;

describe('alarm hub', () => {
  test('tells subscribers of each change of the active set, once', () => {
    const hub = new AlarmHub();
    const seen: (readonly AlarmKind[])[] = [];
    const unsubscribe = hub.subscribe((active) => seen.push(active));
    hub.set('memory', true);
    hub.set('memory', true);
    hub.set('disk', true);
    hub.set('memory', false);
    assert.deepEqual(hub.active(), ['disk']);
    unsubscribe();
    hub.set('disk', false);
    assert.deepEqual(seen, [['memory'], ['memory', 'disk'], ['disk']]);
    assert.deepEqual(hub.active(), []);
  });

  test('a failing subscriber does not keep the others from hearing', () => {
    const hub = new AlarmHub();
    let heard = false;
    hub.subscribe(() => {
      throw new Error('listener bug');
    });
    hub.subscribe(() => (heard = true));
    assert.throws(() => hub.set('disk', true), /listener bug/);
    assert.equal(heard, true);
    assert.deepEqual(hub.active(), ['disk']);
  });
});

describe('alarm monitor', () => {
  test('the memory limit is the byte setting, else a percent of RAM', () => {
    const ram = 8_000_000_000;
    assert.equal(
      memoryBytesMax({ memoryHighWatermarkBytes: 0, memoryHighWatermarkPercent: 40 }, ram),
      3_200_000_000,
    );
    assert.equal(memoryBytesMax({ memoryHighWatermarkBytes: 123, memoryHighWatermarkPercent: 40 }, ram), 123);
    assert.equal(memoryBytesMax({ memoryHighWatermarkBytes: 0, memoryHighWatermarkPercent: 0 }, ram), 0);
  });

  test('raises and clears alarms as readings cross the limits, logging warn then info', async () => {
    const reading = { rss: 10, free: 1000 };
    const probes: AlarmProbes = {
      rssBytes: () => reading.rss,
      diskFreeBytes: async () => reading.free,
    };
    const hub = new AlarmHub();
    const { logger, lines } = capturingLogger();
    const monitor = await AlarmMonitor.start(limitedMonitor(hub, logger, probes));
    try {
      assert.deepEqual(hub.active(), []);
      assert.equal(lines.length, 0, 'nothing logged while all is well');
      reading.rss = 101;
      reading.free = 499;
      await monitor.check();
      assert.deepEqual(hub.active(), ['memory', 'disk']);
      await monitor.check();
      reading.rss = 50;
      await monitor.check();
      assert.deepEqual(hub.active(), ['disk']);
      assert.deepEqual(
        lines.map((l) => [l.level, l.alarm]),
        [
          [warn, 'memory'],
          [warn, 'disk'],
          [info, 'memory'],
        ],
      );
    } finally {
      monitor.stop();
    }
  });

  test('between readings, bytes written count against the last free-space reading at once', async () => {
    const probes: AlarmProbes = { rssBytes: () => 10, diskFreeBytes: async () => 1000 };
    const hub = new AlarmHub();
    const writes = new WriteMeter();
    const { logger, lines } = capturingLogger();
    // A timer that never fires within the test: only writes can raise the alarm.
    const options = { ...limitedMonitor(hub, logger, probes), writes, intervalMs: 3_600_000 };
    const monitor = await AlarmMonitor.start(options);
    try {
      writes.add(400);
      assert.deepEqual(hub.active(), [], '600 bytes still free by the estimate');
      writes.add(200);
      assert.deepEqual(hub.active(), ['disk'], 'the write that takes free space under 500 raises it');
      assert.equal(lines.filter((l) => l.alarm === 'disk').length, 1);
      await monitor.check();
      assert.deepEqual(hub.active(), [], 'a reading that finds room again (space was freed) clears it');
    } finally {
      monitor.stop();
    }
  });

  test('an alarm set by hand holds until the reading itself crosses; an unreadable disk changes nothing', async () => {
    const probes: AlarmProbes = {
      rssBytes: () => 10,
      diskFreeBytes: async () => {
        throw new Error('EIO');
      },
    };
    const hub = new AlarmHub();
    const { logger, lines } = capturingLogger();
    const monitor = await AlarmMonitor.start(limitedMonitor(hub, logger, probes));
    try {
      hub.set('memory', true);
      hub.set('disk', true);
      await monitor.check();
      await monitor.check();
      assert.deepEqual(hub.active(), ['memory', 'disk']);
      assert.equal(lines.filter((l) => l.msg === 'free disk space unreadable').length, 1);
    } finally {
      monitor.stop();
    }
  });
});

describe('alarms of a started broker', () => {
  test('a broker whose data folder has less free space than diskFreeBytesMin starts with the disk alarm, shown in /api/overview', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-alarm-'));
    const { logger, lines } = capturingLogger();
    const petabyte = 1e15;
    const broker = await Broker.start({
      ...allPortsOff,
      storage: 'file',
      dataDir,
      diskFreeBytesMin: petabyte,
      logger,
      httpPort: 'auto',
    });
    try {
      assert.deepEqual(broker.core.alarms.active(), ['disk']);
      const overview = await adminFetch(`http://127.0.0.1:${broker.ports.httpPort}/api/overview`);
      assert.deepEqual(((await overview.json()) as { alarms: string[] }).alarms, ['disk']);
      const line = lines.find((l) => l.alarm === 'disk');
      assert.equal(line?.level, warn);
    } finally {
      await broker.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test('memory storage has no disk check', async () => {
    const broker = await Broker.start({
      ...allPortsOff,
      storage: 'memory',
      diskFreeBytesMin: 1e15,
      logger: pino({ level: 'silent' }),
    });
    try {
      assert.deepEqual(broker.core.alarms.active(), []);
    } finally {
      await broker.stop();
    }
  });
});
