/**
 * MQTT topics ↔ core routing keys on `amq.topic`, the way RabbitMQ's MQTT plugin maps them:
 * the level separator `/` becomes the word separator `.`, and a `.` inside an MQTT level becomes `/`
 * (the two characters swap, so the mapping is its own inverse and loses nothing). In filters `+` ↔ `*`
 * and `#` ↔ `#`. MQTT wildcard semantics that the AMQP matcher lacks (a leading wildcard never
 * matches a `$` topic, MQTT 5.0 §4.7.2) are applied again per session on delivery.
 */
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import type { MqttLimits } from './limits.js';

export const topicExchange = 'amq.topic';

/** Recent conversions: most traffic reuses a few topics, and each message is converted on the way in and out. */
const swapped = new Map<string, string>();
const swappedMax = 10_000;

function swapSeparators(text: string): string {
  const known = swapped.get(text);
  if (known !== undefined) return known;
  let out = '';
  for (const ch of text) out += ch === '/' ? '.' : ch === '.' ? '/' : ch;
  if (swapped.size >= swappedMax) swapped.clear();
  swapped.set(text, out);
  return out;
}

/** `a/b.c` → `a.b/c`. */
export function topicToKey(topic: string): string {
  return swapSeparators(topic);
}

/** `a.b/c` → `a/b.c`. */
export function keyToTopic(key: string): string {
  return swapSeparators(key);
}

/** `a/+/#` → `a.*.#`. */
export function filterToPattern(filter: string): string {
  return filter
    .split('/')
    .map((level) => (level === '+' ? '*' : level === '#' ? '#' : level.replaceAll('.', '/')))
    .join('.');
}

function withinLimits(text: string, limits: Pick<MqttLimits, 'topicLevelsMax' | 'topicBytesMax'>): boolean {
  if (text.length === 0 || text.includes('\u0000')) return false;
  if (Buffer.byteLength(text) > limits.topicBytesMax) return false;
  let levels = 1;
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 0x2f) levels++;
  return levels <= limits.topicLevelsMax;
}

/** A topic name a PUBLISH may carry (§4.7.3): no wildcards, non-empty, within limits. */
export function validTopicName(
  topic: string,
  limits: Pick<MqttLimits, 'topicLevelsMax' | 'topicBytesMax'>,
): boolean {
  return withinLimits(topic, limits) && !topic.includes('+') && !topic.includes('#');
}

/** A topic filter (§4.7.1): `#` only as the whole last level, `+` only as a whole level. */
export function validFilter(
  filter: string,
  limits: Pick<MqttLimits, 'topicLevelsMax' | 'topicBytesMax'>,
): boolean {
  if (!withinLimits(filter, limits)) return false;
  const levels = filter.split('/');
  return levels.every((level, i) => {
    if (level.includes('#')) return level === '#' && i === levels.length - 1;
    return !level.includes('+') || level === '+';
  });
}

/** MQTT matching of a topic name against a filter, including the `$` rule (§4.7.2). */
export function filterMatches(filter: string, topic: string): boolean {
  if (topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) return false;
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    const level = f[i]!;
    if (level === '#') return true;
    if (i >= t.length) return false;
    if (level !== '+' && level !== t[i]) return false;
  }
  return f.length === t.length;
}

export interface SharedFilter {
  readonly group: string;
  readonly filter: string;
}

/** `$share/group/filter` (§4.8.2); undefined for an ordinary filter, null for a malformed share. */
export function parseShared(filter: string): SharedFilter | undefined | null {
  if (!filter.startsWith('$share/')) return undefined;
  const rest = filter.slice('$share/'.length);
  const slash = rest.indexOf('/');
  if (slash <= 0) return null;
  const group = rest.slice(0, slash);
  if (group.includes('+') || group.includes('#')) return null;
  // [MQTT-4.8.2-2]: the "/" after the share name is followed by a topic filter.
  if (slash === rest.length - 1) return null;
  return { group, filter: rest.slice(slash + 1) };
}

/** The core queue all members of a share group consume. */
export function sharedQueueName(group: string, filter: string): string {
  const readable = `mqtt-share.${encodeURIComponent(group)}.${encodeURIComponent(filter)}`;
  if (Buffer.byteLength(readable) <= queueNameBytesMax) return readable;
  return `mqtt-share.h.${createHash('sha256').update(`${group}/${filter}`).digest('hex')}`;
}

/** Core queue names are AMQP short strings. */
const queueNameBytesMax = 255;
