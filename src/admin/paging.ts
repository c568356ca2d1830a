/**
 * RabbitMQ's listing query: `name` + `use_regex` filter, `sort` (a dotted key) + `sort_reverse`,
 * `columns` (dotted keys) and `page` + `page_size`. With `page` the answer is the paged shape
 * `{items, page, page_size, page_count, filtered_count, item_count, total_count}`; without it the
 * plain list, still filtered, sorted and cut to its columns. `columns` also applies to one object.
 */
import { HttpError } from './errors.js';
import type { Json } from './json.js';

/** RabbitMQ's bounds: pages of at most 500 rows, 100 when unasked. */
const pageSizeMax = 500;
const pageSizeDefault = 100;
/** A regular expression of a filter is the client's: bounded so that compiling it stays cheap. */
const patternCharsMax = 256;

type JsonObject = { [key: string]: Json };

export interface ListingQuery {
  readonly page?: number;
  readonly pageSize: number;
  readonly name?: string;
  readonly useRegex: boolean;
  readonly sort?: string;
  readonly sortReverse: boolean;
  readonly columns?: readonly string[];
}

function badRequest(reason: string): never {
  throw new HttpError(400, 'bad_request', reason);
}

function positive(value: string | null, name: string): number | undefined {
  if (value === null) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) badRequest(`${name} must be a positive integer`);
  return n;
}

/** The query of a listing, or undefined when it asks for nothing of this (the common case). */
export function listingQuery(search: string): ListingQuery | undefined {
  if (search === '') return undefined;
  const params = new URLSearchParams(search);
  const page = positive(params.get('page'), 'page');
  const pageSize = positive(params.get('page_size'), 'page_size') ?? pageSizeDefault;
  if (pageSize > pageSizeMax) badRequest(`page_size must be at most ${pageSizeMax}`);
  const name = params.get('name') ?? '';
  if (name.length > patternCharsMax) badRequest(`name is at most ${patternCharsMax} characters`);
  const sort = params.get('sort') ?? '';
  const columns = (params.get('columns') ?? '').split(',').filter((c) => c !== '');
  return {
    ...(page === undefined ? {} : { page }),
    pageSize,
    ...(name === '' ? {} : { name }),
    useRegex: params.get('use_regex') === 'true',
    ...(sort === '' ? {} : { sort }),
    sortReverse: params.get('sort_reverse') === 'true',
    ...(columns.length === 0 ? {} : { columns }),
  };
}

/** The value at a dotted path of a row (undefined when absent). */
export function valueAt(row: Json, path: readonly string[]): Json | undefined {
  let value: Json | undefined = row;
  for (const key of path) {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
    value = value[key];
  }
  return value;
}

/** The test of the `name` filter on a row's name (case-insensitive); undefined when there is none. */
function nameTest(query: ListingQuery): ((text: string) => boolean) | undefined {
  const { name } = query;
  if (name === undefined) return undefined;
  if (query.useRegex) {
    let pattern: RegExp;
    try {
      pattern = new RegExp(name, 'i');
    } catch {
      badRequest('name is not a valid regular expression');
    }
    return (text) => pattern.test(text);
  }
  const lower = name.toLowerCase();
  return (text) => text.toLowerCase().includes(lower);
}

/** Numbers before strings before anything else; absent values last, as RabbitMQ's sort. */
function compare(a: Json | undefined, b: Json | undefined): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  const rank = (v: Json | undefined) =>
    typeof v === 'number' ? 0 : typeof v === 'string' ? 1 : v === undefined ? 3 : 2;
  return rank(a) - rank(b);
}

/** One row cut to the dotted `columns` (nested objects keep only the asked keys). */
export function selectColumns(row: Json, columns: readonly string[]): Json {
  if (row === null || typeof row !== 'object' || Array.isArray(row)) return row;
  const out: JsonObject = {};
  for (const column of columns) {
    const path = column.split('.');
    const value = valueAt(row, path);
    if (value === undefined) continue;
    let target = out;
    for (const key of path.slice(0, -1)) {
      const next = target[key];
      if (next === null || typeof next !== 'object' || Array.isArray(next)) target[key] = {};
      target = target[key] as JsonObject;
    }
    target[path[path.length - 1] as string] = value;
  }
  return out;
}

/** `items` in the order of their keys (a stable sort: equal keys keep their order). */
function sortedBy<T>(items: readonly T[], keyOf: (item: T) => Json | undefined): T[] {
  const keyed = items.map((item) => ({ item, key: keyOf(item) }));
  keyed.sort((x, y) => compare(x.key, y.key));
  return keyed.map((k) => k.item);
}

/**
 * The rows of a listing answered without `page`, built a slice at a time while the answer is written
 * (./http.ts): 10,000 to 100,000 rows built and serialised in one turn held every client for
 * hundreds of milliseconds to seconds, and the whole text was held at once.
 */
export class RowSource {
  readonly count: number;
  /** Rows `start` to `end - 1` of the listing, fewer when objects went meanwhile. */
  readonly rows: (start: number, end: number) => Json[];

  constructor(count: number, rows: (start: number, end: number) => Json[]) {
    this.count = count;
    this.rows = rows;
  }

  /** The rows of `items`, in their order, `build` making those of each slice. */
  static of<T>(items: readonly T[], build: (items: readonly T[]) => Json[]): RowSource {
    return new RowSource(items.length, (start, end) => build(items.slice(start, end)));
  }
}

/**
 * The answer to a filtered and sorted listing: the plain list, or the page asked with its counts.
 * `build` makes rows of what is shown only (the page's, or, a slice at a time, all without `page`).
 */
function answerOf<T>(
  selected: readonly T[],
  totalCount: number,
  query: ListingQuery,
  build: (items: readonly T[]) => Json[],
): Json | RowSource {
  const ordered = query.sortReverse ? [...selected].reverse() : selected;
  const cut = (list: Json[]) => {
    const { columns } = query;
    return columns === undefined ? list : list.map((row) => selectColumns(row, columns));
  };
  if (query.page === undefined) return RowSource.of(ordered, (items) => cut(build(items)));
  const { page, pageSize } = query;
  const pageCount = Math.ceil(ordered.length / pageSize);
  if (page > Math.max(pageCount, 1)) badRequest('page_out_of_range');
  const items = cut(build(ordered.slice((page - 1) * pageSize, page * pageSize)));
  return {
    items,
    page,
    page_size: pageSize,
    page_count: pageCount,
    filtered_count: ordered.length,
    item_count: items.length,
    total_count: totalCount,
  };
}

const asBuilt = (rows: readonly Json[]): Json[] => [...rows];

/** A listing as asked: filtered, sorted, paged, cut to columns. */
export function applyListing(rows: readonly Json[], query: ListingQuery): Json | RowSource {
  const test = nameTest(query);
  let selected: readonly Json[] = rows;
  if (test !== undefined) {
    selected = rows.filter((row) => {
      const value = valueAt(row, ['name']);
      return typeof value === 'string' && test(value);
    });
  }
  if (query.sort !== undefined) {
    const path = query.sort.split('.');
    selected = sortedBy(selected, (row) => valueAt(row, path));
  }
  return answerOf(selected, rows.length, query, asBuilt);
}

/**
 * A listing that pages before it builds its rows. Its keys are cheap (a queue's vhost and name, a
 * binding as core lists it); a row (policies, meters, arguments as JSON) is built only for the page
 * asked, so a page of 100,000 queues costs about what a page of 100 does.
 */
export interface KeyedListing<K> {
  /**
   * Every key in scope, in the listing's own order, or already sorted on the dotted `sort` field
   * when the listing keeps them so (`sorted` true: the order a stable sort on that field would give).
   */
  keys(sort: readonly string[] | undefined): { keys: readonly K[]; sorted: boolean };
  /** The text the `name` filter is matched against. */
  nameOf(key: K): string;
  /**
   * The value the dotted `sort` field has in each key's row, collected without building rows;
   * undefined when only a built row has it (the listing then builds every filtered row to sort them).
   */
  sortKey(sort: readonly string[], keys: readonly K[]): ((key: K) => Json | undefined) | undefined;
  /** The rows of `keys`, in that order. */
  rows(keys: readonly K[]): Json[];
}

/** A keyed listing as asked: the same answer `applyListing` gives over every row, for less work. */
export function pagedListing<K>(listing: KeyedListing<K>, query: ListingQuery): Json | RowSource {
  const path = query.sort?.split('.');
  const { keys, sorted } = listing.keys(path);
  const test = nameTest(query);
  let selected = test === undefined ? keys : keys.filter((key) => test(listing.nameOf(key)));
  if (path !== undefined && !sorted) {
    const keyOf = listing.sortKey(path, selected);
    if (keyOf === undefined) {
      const rows = sortedBy(listing.rows(selected), (row) => valueAt(row, path));
      return answerOf(rows, keys.length, query, asBuilt);
    }
    selected = sortedBy(selected, keyOf);
  }
  return answerOf(selected, keys.length, query, (page) => listing.rows(page));
}
