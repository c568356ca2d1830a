/** Small statistics the benchmarks share. */

/** The middle value, the upper of the two middle ones for an even count (a value that was measured). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}
