/**
 * Spelling out expected AMQP wire bytes in codec tests: numbers are octets, strings their UTF-8
 * bytes, arrays flattened; the helpers give big-endian integers and short/long strings.
 */
export type Part = number | string | Uint8Array | Part[];

const utf8 = new TextEncoder();

export function bytes(...parts: Part[]): Uint8Array {
  const out: number[] = [];
  const add = (part: Part): void => {
    if (typeof part === 'number') out.push(part);
    else if (typeof part === 'string') out.push(...utf8.encode(part));
    else if (part instanceof Uint8Array) out.push(...part);
    else for (const p of part) add(p);
  };
  for (const p of parts) add(p);
  return Uint8Array.from(out);
}

export const u16 = (n: number): Part => [n >>> 8, n & 0xff];
export const u32 = (n: number): Part => [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
export const u64 = (n: bigint): Part => [
  u32(Number((n >> 32n) & 0xffff_ffffn)),
  u32(Number(n & 0xffff_ffffn)),
];
export const sstr = (s: string): Part => [utf8.encode(s).byteLength, s];
export const lstr = (s: string): Part => [u32(utf8.encode(s).byteLength), s];
