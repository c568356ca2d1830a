/**
 * Forked by `LATENCY_SCHED=1 npm run bench -- latency`: every `sampleMs` it reads the run and run-queue
 * wait of every thread of the processes its parent names (bench/sched-stat.ts) and the machine's
 * runnable count, and appends what changed to a file once a second, so that the bench can say which
 * threads ran, and which waited, while its slowest messages waited. Its own cost is a few reads of
 * /proc per sample; it watches itself too, so that cost is in the figures.
 *
 * Usage: `node dist/bench/sched-watch.js <file>`; the parent sends `{ pids: { <pid>: <label> } }`
 * whenever the set changes and disconnects to end it.
 */
import { appendFileSync, closeSync, openSync, readSync } from 'node:fs';
import { ThreadReader, type ThreadTimes } from './sched-stat.js';

/** Every 10 ms: at 5 ms, with open/read/close per file, the watcher took a fifth of a core. */
const sampleMs = 10;
const flushMs = 1000;

const file = process.argv[2];
if (file === undefined) throw new Error('usage: sched-watch.js <file>');
let readers = [new ThreadReader(process.pid)];
const last = new Map<number, ThreadTimes>();
let lastAtMs = Date.now();
const lines: string[] = [];

const loadavgFd = openSync('/proc/loadavg', 'r');
const loadavgBuffer = Buffer.alloc(128);

function runnableNow(): number {
  const n = readSync(loadavgFd, loadavgBuffer, 0, loadavgBuffer.length, 0);
  const running = loadavgBuffer.toString('latin1', 0, n).split(' ')[3] ?? '0/0';
  return Number(running.split('/')[0]);
}

function sample(): void {
  const atMs = performance.timeOrigin + performance.now();
  for (const reader of readers)
    for (const [tid, now] of reader.read()) {
      const was = last.get(tid);
      last.set(tid, now);
      if (was === undefined) continue;
      const runNs = now.runNs - was.runNs;
      const waitNs = now.waitNs - was.waitNs;
      if (runNs + waitNs > 0)
        lines.push(`t ${lastAtMs.toFixed(2)} ${atMs.toFixed(2)} ${reader.pid} ${tid} ${runNs} ${waitNs}`);
    }
  lines.push(`r ${atMs.toFixed(2)} ${runnableNow()}`);
  lastAtMs = atMs;
}

const flush = () => {
  if (lines.length > 0) appendFileSync(file, `${lines.splice(0).join('\n')}\n`);
};
const sampler = setInterval(sample, sampleMs);
const flusher = setInterval(flush, flushMs);
process.on('message', (m: { pids?: Record<string, string> }) => {
  if (m.pids !== undefined) {
    for (const reader of readers) reader.close();
    readers = [process.pid, ...Object.keys(m.pids).map(Number)]
      .filter((pid, i, all) => all.indexOf(pid) === i)
      .map((pid) => new ThreadReader(pid));
  }
  process.send?.('watching');
});
process.once('disconnect', () => {
  clearInterval(sampler);
  clearInterval(flusher);
  flush();
  for (const reader of readers) reader.close();
  closeSync(loadavgFd);
});
process.send?.('ready');
