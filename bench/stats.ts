/** Small statistics the benchmarks share. */
import { readFileSync } from 'node:fs';

/** The middle value, the upper of the two middle ones for an even count (a value that was measured). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

/**
 * User + system CPU milliseconds a process has used (/proc/<pid>/stat, 100 ticks per second), or one
 * of its threads (`tid`: /proc/<pid>/task/<tid>/stat; a process's main thread has tid = pid).
 */
export function cpuMs(pid: number, tid?: number): number {
  const file = tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`;
  const fields = readFileSync(file, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) * 10;
}
