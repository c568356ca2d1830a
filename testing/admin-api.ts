import { adminFetch } from './server-helpers.js';

/**
 * The admin API as an operator's script calls it: one request as `user` (the seeded guest, an
 * administrator, by default), the status, and the JSON answer (if any). For tests that set policies
 * and limits while protocol clients run.
 */
export async function adminCall(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  user: readonly [name: string, password: string] = ['guest', 'guest'],
): Promise<{ status: number; json: unknown }> {
  const res = await adminFetch(
    base + path,
    {
      method,
      ...(body === undefined
        ? {}
        : {
            body: typeof body === 'string' ? body : JSON.stringify(body),
            headers: { 'content-type': 'application/json' },
          }),
    },
    user[0],
    user[1],
  );
  const text = await res.text();
  return { status: res.status, json: text === '' ? undefined : (JSON.parse(text) as unknown) };
}

/** A page of a listing as the admin API answers `?page=` (RabbitMQ's paged shape). */
export interface ListingPage<Item = { name: string; messages: number }> {
  items: Item[];
  page: number;
  page_size: number;
  page_count: number;
  item_count: number;
  filtered_count: number;
  total_count: number;
}
