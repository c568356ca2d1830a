/**
 * A stream's id: a UUID made once, when the stream is created, and stored with its definition, so a
 * stream deleted and created again under its name is told apart from the one before (Kafka's topic ids,
 * KIP-516, are these ids). Streams stored before ids existed get the id they were shown then, derived
 * from vhost and name (`derivedStreamId`), so ids clients cached across an upgrade stay valid.
 */
import { createHash, randomUUID } from 'node:crypto';
import { assert } from '../../shared/assert.js';

/** Kafka's `Uuid.ZERO_UUID`, which means "no id" on the wire. */
export const zeroStreamId = '00000000-0000-0000-0000-000000000000';
/** Kafka's `Uuid.METADATA_TOPIC_ID`, reserved for its own metadata topic. */
export const metadataStreamId = '00000000-0000-0000-0000-000000000001';

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Whether `id` may name a stream: a lower-case UUID other than the two Kafka reserves. */
export function isStreamId(id: string): boolean {
  return uuidPattern.test(id) && id !== zeroStreamId && id !== metadataStreamId;
}

/**
 * A new random (version 4) id. As Kafka's `Uuid.randomUuid` does, one whose base64 form would begin
 * with '-' (first byte 0xf8–0xfb) is drawn again, so Kafka's tools never read it as an option.
 */
export function newStreamId(): string {
  for (;;) {
    const id = randomUUID();
    const firstByte = Number.parseInt(id.slice(0, 2), 16);
    if (firstByte >= 0xf8 && firstByte <= 0xfb) continue;
    assert(isStreamId(id), `random stream id ${id} is reserved`);
    return id;
  }
}

/**
 * The id older builds showed for a stream: SHA-256 of vhost, NUL and name, laid out as a UUID with
 * version 8 ("custom", RFC 9562) and variant bits 10. Never change it: clients cached these ids.
 */
export function derivedStreamId(vhost: string, name: string): string {
  const h = createHash('sha256').update(vhost).update('\u0000').update(name).digest();
  h[6] = ((h[6] ?? 0) & 0x0f) | 0x80;
  h[8] = ((h[8] ?? 0) & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex');
  const id = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
  assert(isStreamId(id), `derived stream id ${id} is reserved`);
  return id;
}
