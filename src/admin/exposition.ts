/**
 * Prometheus text exposition format 0.0.4, written by hand (docs/performance.md, "Metrics": measured
 * against prom-client with 10 000 queues). One `Exposition` per scrape; families are written whole,
 * HELP and TYPE first, as the format wants.
 */
import type { HistogramSnapshot } from '../shared/histogram.js';

export const metricsContentType = 'text/plain; version=0.0.4; charset=utf-8';

export type Kind = 'gauge' | 'counter' | 'histogram';

export type Labels = Readonly<Record<string, string>>;

/** Label values escape backslash, double quote and newline (exposition format, "Text format details"). */
function escapeLabel(value: string): string {
  if (!/[\\"\n]/.test(value)) return value;
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** `{key="value",…}`, escaped; a per-object writer makes it once per object, not once per series. */
export function labelText(pairs: Labels): string {
  let inner = '';
  for (const key in pairs) inner += `${inner === '' ? '' : ','}${key}="${escapeLabel(pairs[key]!)}"`;
  return inner === '' ? '' : `{${inner}}`;
}

function number(value: number): string {
  if (Number.isFinite(value)) return String(value);
  if (Number.isNaN(value)) return 'NaN';
  return value > 0 ? '+Inf' : '-Inf';
}

export class Exposition {
  private readonly lines: string[] = [];

  family(name: string, kind: Kind, help: string): this {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${kind}`);
    return this;
  }

  sample(name: string, value: number, pairs: Labels | string = {}): this {
    this.lines.push(`${name}${typeof pairs === 'string' ? pairs : labelText(pairs)} ${number(value)}`);
    return this;
  }

  /** A whole histogram family: cumulative `_bucket{le}` lines, then `_sum` and `_count`. */
  histogram(name: string, help: string, h: HistogramSnapshot, pairs: Labels = {}): this {
    this.family(name, 'histogram', help);
    h.bounds.forEach((bound, i) => {
      this.sample(`${name}_bucket`, h.cumulative[i] ?? 0, { ...pairs, le: String(bound) });
    });
    this.sample(`${name}_bucket`, h.count, { ...pairs, le: '+Inf' });
    return this.sample(`${name}_sum`, h.sum, pairs).sample(`${name}_count`, h.count, pairs);
  }

  text(): string {
    return `${this.lines.join('\n')}\n`;
  }
}
