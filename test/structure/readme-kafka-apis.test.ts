/**
 * README's Kafka table is how a user learns which APIs and versions a client may use: it must name
 * every API the listener advertises in ApiVersions, with the same range, and no API it does not serve.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ApiKey } from '../../src/protocols/kafka/codec/index.js';
import { handlers } from '../../src/protocols/kafka/handlers/index.js';

/** The repository: this file runs as dist/test/structure/readme-kafka-apis.test.js. */
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const tableHeader = '| Family | APIs (version range) |';

type Ranges = Map<string, string>;

/** Each API name of the table with its range as written: `Produce 0–12` → `0–12`, `ShareFetch 1` → `1–1`. */
function readmeRanges(readme: string): Ranges {
  const start = readme.indexOf(tableHeader);
  assert.ok(start >= 0, `README.md has no table headed ${tableHeader}`);
  const end = readme.indexOf('\n\n', start);
  const table = readme.slice(start, end < 0 ? undefined : end);
  const names = new Set(Object.keys(ApiKey));
  const ranges: Ranges = new Map();
  for (const m of table.matchAll(/\b([A-Z][A-Za-z]+) (\d+)(?:–(\d+))?\b/g)) {
    const [, name, min, max] = m;
    if (name === undefined || !names.has(name) || ranges.has(name)) continue;
    ranges.set(name, `${min}–${max ?? min}`);
  }
  return ranges;
}

function advertisedRanges(): Ranges {
  const byKey = new Map<number, string>(Object.entries(ApiKey).map(([name, key]) => [key, name]));
  const ranges: Ranges = new Map();
  for (const h of handlers.values()) {
    const name = byKey.get(h.apiKey);
    assert.ok(name !== undefined, `API key ${h.apiKey} is served but has no name in ApiKey`);
    ranges.set(name, `${h.versionMin}–${h.versionMax}`);
  }
  return ranges;
}

const sorted = (ranges: Ranges) => [...ranges].sort(([a], [b]) => a.localeCompare(b));

test("README's Kafka table lists every advertised API with its version range, and nothing else", () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const advertised = advertisedRanges();
  // A broken reader would compare two empty lists: the listener serves some fifty APIs.
  assert.ok(advertised.size > 40, `${advertised.size} APIs advertised`);
  assert.deepEqual(sorted(readmeRanges(readme)), sorted(advertised));
});
