/**
 * Forked by `LATENCY_TAIL=1 npm run bench -- latency` beside the broker: a process with nothing to do
 * but its 1 ms timer (bench/gap-watch.ts). Every gap it sees is the machine's — the VM or the host not
 * running a process that asked for almost no CPU — so the share of the slowest messages' waiting that
 * overlaps its gaps is what no change to the broker or the clients can remove.
 *
 * Usage: `node dist/bench/idle-watch.js <file>`; appends `<kind> <from> <to>` (epoch ms) once a second
 * and exits when its parent disconnects.
 */
import { appendFileSync } from 'node:fs';
import { watchGaps } from './gap-watch.js';

const flushMs = 1000;

const file = process.argv[2];
if (file === undefined) throw new Error('usage: idle-watch.js <gaps file>');
const lines: string[] = [];
const watch = watchGaps((gap) => {
  if (gap === undefined || gap.kind === 'gc') return;
  const from = performance.timeOrigin + gap.fromMs;
  const to = performance.timeOrigin + gap.toMs;
  lines.push(`${gap.kind} ${from.toFixed(2)} ${to.toFixed(2)}`);
});
const flush = () => {
  if (lines.length > 0) appendFileSync(file, `${lines.splice(0).join('\n')}\n`);
};
const flusher = setInterval(flush, flushMs);
process.once('disconnect', () => {
  flush();
  clearInterval(flusher);
  watch.stop();
});
process.send?.('ready');
