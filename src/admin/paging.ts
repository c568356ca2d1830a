/**
 * RabbitMQ's paged listings: with `?page=` a listing answers one page, `{items, page, page_size,
 * page_count, item_count, filtered_count, total_count}`, filtered by `name` (a substring, or with
 * `use_regex=true` a regular expression) and ordered by `sort` (a field, dotted for a nested one) and
 * `sort_reverse`. Without `page` it is the whole array, as RabbitMQ answers it.
 */
import { HttpError } from './errors.js';
import type { Json } from './json.js';

/** The largest page RabbitMQ serves. */
export const pageSizeMax = 500;
const pageSizeDefault = 100;
/** A name filter is short; a long one is more likely an attack on the regex engine than a search. */
const filterCharsMax = 256;

export interface PageQuery {
  readonly page: number;
  readonly pageSize: number;
  readonly name: string;
  readonly useRegex: boolean;
  readonly sort: string;
  readonly sortReverse: boolean;
}

type Row = { readonly [key: string]: Json };

function whole(params: URLSearchParams, key: string, fallback: number, max: number): number {
  const text = params.get(key);
  if (text === null || text === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1 || value > max)
    throw new HttpError(400, 'bad_request', `'${key}' must be a whole number from 1 to ${max}`);
  return value;
}

/** The paging asked for in the query string; undefined without `page` (the whole listing). */
export function pageQuery(search: string): PageQuery | undefined {
  const params = new URLSearchParams(search);
  if (!params.has('page')) return undefined;
  const name = params.get('name') ?? '';
  if (name.length > filterCharsMax)
    throw new HttpError(400, 'bad_request', `'name' is at most ${filterCharsMax} characters`);
  return {
    page: whole(params, 'page', 1, Number.MAX_SAFE_INTEGER),
    pageSize: whole(params, 'page_size', pageSizeDefault, pageSizeMax),
    name,
    useRegex: params.get('use_regex') === 'true',
    sort: params.get('sort') ?? '',
    sortReverse: params.get('sort_reverse') === 'true',
  };
}

function fieldOf(row: Row, path: string): Json | undefined {
  let value: Json | undefined = row;
  for (const part of path.split('.')) {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
    value = value[part];
  }
  return value;
}

function matcher(query: PageQuery): (name: string) => boolean {
  if (query.name === '') return () => true;
  if (!query.useRegex) return (name) => name.includes(query.name);
  let re: RegExp;
  try {
    re = new RegExp(query.name);
  } catch {
    throw new HttpError(400, 'bad_request', `'name' is not a regular expression`);
  }
  return (name) => re.test(name);
}

/** Orders numbers as numbers and everything else as text; missing values first. */
function compare(a: Json | undefined, b: Json | undefined): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (a === undefined || a === null) return b === undefined || b === null ? 0 : -1;
  if (b === undefined || b === null) return 1;
  const x = String(a);
  const y = String(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** One page of `rows`, whose `nameKey` the filter tests. */
export function paged(rows: readonly Row[], query: PageQuery, nameKey = 'name'): Row {
  const test = matcher(query);
  const filtered = rows.filter((row) => test(String(row[nameKey] ?? '')));
  if (query.sort !== '') {
    const sign = query.sortReverse ? -1 : 1;
    filtered.sort((a, b) => sign * compare(fieldOf(a, query.sort), fieldOf(b, query.sort)));
  }
  const pageCount = Math.max(1, Math.ceil(filtered.length / query.pageSize));
  const start = (query.page - 1) * query.pageSize;
  const items = filtered.slice(start, start + query.pageSize);
  return {
    items: items as Json[],
    page: query.page,
    page_size: query.pageSize,
    page_count: pageCount,
    item_count: items.length,
    filtered_count: filtered.length,
    total_count: rows.length,
  };
}
