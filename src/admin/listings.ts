/**
 * The listings that grow with the broker (queues, exchanges, bindings) as keyed listings
 * (./paging.ts): filtered and paged on names core keeps, sorted on one collected value per object,
 * and built into rows for the page asked only. A broker with 100,000 queues answers a page of them
 * in milliseconds (docs/performance.md, "Management API").
 */
import type { CoreClient } from '../core/api.js';
import type { Json } from './json.js';
import { type KeyedListing, valueAt } from './paging.js';
import { bindingJson, exchangeRowsOf, messageStats, queueRows } from './views.js';

type JsonObject = { [key: string]: Json };
type BindingRow = ReturnType<CoreClient['listBindings']>[number];
type ExchangeInfo = ReturnType<CoreClient['listExchanges']>[number];

interface Named {
  readonly vhost: string;
  readonly name: string;
}

const byName = (a: Named, b: Named) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/**
 * Per-vhost runs of keys, each sorted by name, as one list sorted by name. The sort is stable, so
 * equal names keep their vhosts' order; and it merges runs already in order, so it costs little.
 */
function mergedByName<K extends Named>(runs: K[][]): K[] {
  return runs.length === 1 ? (runs[0] as K[]) : runs.flat().sort(byName);
}

/** The vhosts `keys` come from, in their first appearance. */
function vhostsOf(keys: readonly { readonly vhost: string }[]): string[] {
  const seen = new Set<string>();
  for (const key of keys) seen.add(key.vhost);
  return [...seen];
}

/**
 * Rows of keys spanning vhosts, in the keys' order: each vhost builds its own page's rows. `build`
 * costs what its keys do (a listing without `page` builds them a slice at a time, ./paging.ts).
 */
function rowsOf<K extends Named>(
  core: CoreClient,
  keys: readonly K[],
  build: (v: CoreClient, vhost: string, keys: readonly K[]) => JsonObject[],
): Json[] {
  const vhosts = vhostsOf(keys);
  if (vhosts.length === 1) {
    const vhost = vhosts[0] as string;
    return build(core.inVhost(vhost), vhost, keys);
  }
  const built = new Map<string, Map<Json | undefined, JsonObject>>();
  for (const vhost of vhosts) {
    const rows = build(
      core.inVhost(vhost),
      vhost,
      keys.filter((k) => k.vhost === vhost),
    );
    built.set(vhost, new Map(rows.map((row) => [row['name'], row])));
  }
  return keys.flatMap((k) => built.get(k.vhost)?.get(k.name) ?? []);
}

/**
 * A sort on `message_stats.…`: the value each counted object's row shows, read from the meters of
 * the vhosts in scope (objects never counted have no stats, as their rows).
 */
function statsKey(
  core: CoreClient,
  vhosts: readonly string[],
  objects: 'queue' | 'exchange',
  path: readonly string[],
): (vhost: string, name: string) => Json | undefined {
  const publishName = objects === 'exchange' ? 'publish_in' : 'publish';
  const rest = path.slice(1);
  const values = new Map(
    vhosts.map((vhost) => {
      const rows = core.inVhost(vhost).readMeters(objects);
      return [vhost, new Map(rows.map((row) => [row.name, valueAt(messageStats(row, publishName), rest)]))];
    }),
  );
  return (vhost, name) => values.get(vhost)?.get(name);
}

/** 0, 1, … n-1: the keys of a listing whose objects are held in parallel arrays. */
function indices(n: number): number[] {
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) out[i] = i;
  return out;
}

/**
 * Objects of several vhosts in one index space, without an object per entry: each vhost's part is
 * a run of `items`, and the vhost of an index is found by bisecting the runs' starts.
 */
class Runs<T> {
  readonly items: T[] = [];
  readonly #starts: number[] = [];
  readonly #vhosts: string[] = [];

  add(vhost: string, items: readonly T[]): void {
    this.#starts.push(this.items.length);
    this.#vhosts.push(vhost);
    for (const item of items) this.items.push(item);
  }

  vhostAt(i: number): string {
    let lo = 0;
    let hi = this.#starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if ((this.#starts[mid] as number) <= i) lo = mid;
      else hi = mid - 1;
    }
    return this.#vhosts[lo] ?? '';
  }
}

/**
 * `/api/queues[/{vhost}]`: a key is an index into the queues' names (sorted in core when the sort is
 * on name), the sort on messages or consumers reads core's parallel arrays, and only the page's
 * queues become rows.
 */
export function queueListing(core: CoreClient, vhosts: readonly string[]): KeyedListing<number> {
  // Filled by `keys` (each call starts afresh); read by the rest.
  let names = new Runs<string>();
  let depths = { messages: [] as number[], consumers: [] as number[] };
  const named = (i: number): Named => ({ vhost: names.vhostAt(i), name: names.items[i] as string });
  return {
    keys(sort) {
      const field = sort?.length === 1 ? sort[0] : undefined;
      const sorted = field === 'name';
      names = new Runs<string>();
      depths = { messages: [], consumers: [] };
      for (const vhost of vhosts) {
        const v = core.inVhost(vhost);
        if (field !== 'messages' && field !== 'consumers') {
          names.add(vhost, v.queueNames(sorted));
          continue;
        }
        const found = v.queueDepths();
        names.add(vhost, found.names);
        // One at a time: spreading 100,000 arguments into push() can overflow the stack.
        for (const count of found.messages) depths.messages.push(count);
        for (const count of found.consumers) depths.consumers.push(count);
      }
      const keys = indices(names.items.length);
      // Each vhost's run is sorted; a stable sort of the indices merges them as the rows would sort.
      if (sorted && vhosts.length > 1) keys.sort((a, b) => byName(named(a), named(b)));
      return { keys, sorted };
    },
    nameOf: (i) => names.items[i] as string,
    sortKey(sort) {
      const [field] = sort;
      if (sort.length === 1 && field === 'vhost') return (i) => names.vhostAt(i);
      if (sort.length === 1 && field === 'messages') return (i) => depths.messages[i];
      if (sort.length === 1 && field === 'consumers') return (i) => depths.consumers[i];
      if (field === 'message_stats') {
        const stats = statsKey(core, vhosts, 'queue', sort);
        return (i) => stats(names.vhostAt(i), names.items[i] as string);
      }
      return undefined;
    },
    rows: (keys) =>
      rowsOf(core, keys.map(named), (v, vhost, some) =>
        queueRows(
          v,
          vhost,
          some.map((k) => k.name),
        ),
      ),
  };
}

interface ExchangeKey extends Named {
  readonly info: ExchangeInfo;
}

/** What an exchange row shows of its declaration, for sorting without building the row. */
const exchangeFields: Readonly<Record<string, (e: ExchangeInfo) => Json>> = {
  type: (e) => e.type,
  durable: (e) => e.durable ?? false,
  auto_delete: (e) => e.autoDelete ?? false,
  internal: (e) => e.internal ?? false,
};

/** `/api/exchanges[/{vhost}]`: exchanges are few, but their rows (policies, meters) are built per page. */
export function exchangeListing(core: CoreClient, vhosts: readonly string[]): KeyedListing<ExchangeKey> {
  return {
    keys(sort) {
      const sorted = sort?.length === 1 && sort[0] === 'name';
      const runs = vhosts.map((vhost) => {
        const run = core
          .inVhost(vhost)
          .listExchanges()
          .map((info) => ({ vhost, name: info.name, info }));
        return sorted ? run.sort(byName) : run;
      });
      return { keys: sorted ? mergedByName(runs) : runs.flat(), sorted };
    },
    nameOf: (key) => key.name,
    sortKey(sort) {
      const [field = ''] = sort;
      if (sort.length === 1 && field === 'vhost') return (key) => key.vhost;
      const declared = sort.length === 1 ? exchangeFields[field] : undefined;
      if (declared !== undefined) return (key) => declared(key.info);
      if (field === 'message_stats') {
        const stats = statsKey(core, vhosts, 'exchange', sort);
        return (key) => stats(key.vhost, key.name);
      }
      return undefined;
    },
    // From the listed declarations: listing every exchange again for each slice of rows was quadratic.
    rows: (keys) =>
      rowsOf(core, keys, (v, vhost, some) =>
        exchangeRowsOf(
          v,
          vhost,
          some.map((k) => k.info),
        ),
      ),
  };
}

/** A binding of a vhost's listing: the implicit one of a queue (by name) or one core lists. */
type BindingEntry = string | BindingRow;

function bindingOf(entry: BindingEntry): BindingRow {
  return typeof entry !== 'string'
    ? entry
    : { source: '', destination: entry, destinationKind: 'queue', routingKey: entry, args: {} };
}

/** What a binding row shows of core's row, for sorting without building it (`arguments` needs it). */
const bindingFields: Readonly<Record<string, (b: BindingRow) => Json>> = {
  source: (b) => b.source,
  destination: (b) => b.destination,
  destination_type: (b) => b.destinationKind,
  routing_key: (b) => b.routingKey,
};

/** The fields of a binding row only building it gives (the arguments as JSON, and their digest). */
const builtBindingFields: ReadonlySet<string> = new Set(['arguments', 'properties_key']);

/**
 * `/api/bindings[/{vhost}]`: every queue has its default-exchange binding, so this grows with the
 * queues; those are keyed by the queue's name alone until a page shows them. The `name` filter
 * matches the source exchange (bindings have no name of their own).
 */
export function bindingListing(core: CoreClient, vhosts: readonly string[]): KeyedListing<number> {
  let entries = new Runs<BindingEntry>();
  const at = (i: number): BindingEntry => entries.items[i] as BindingEntry;
  return {
    keys() {
      entries = new Runs<BindingEntry>();
      for (const vhost of vhosts) {
        const v = core.inVhost(vhost);
        entries.add(vhost, [...v.queueNames(), ...v.listBindings({ defaults: false })]);
      }
      return { keys: indices(entries.items.length), sorted: false };
    },
    nameOf: (i) => {
      const entry = at(i);
      return typeof entry === 'string' ? '' : entry.source;
    },
    sortKey(sort) {
      const [first = ''] = sort;
      if (builtBindingFields.has(first)) return undefined;
      // A field no binding row has sorts nothing: the order stays, no row need be built.
      if (sort.length !== 1) return () => undefined;
      if (first === 'vhost') return (i) => entries.vhostAt(i);
      const field = bindingFields[first];
      return field === undefined ? () => undefined : (i) => field(bindingOf(at(i)));
    },
    rows: (keys) => keys.map((i) => bindingJson(bindingOf(at(i)), entries.vhostAt(i))),
  };
}
