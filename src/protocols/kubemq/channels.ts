/**
 * KubeMQ channel names: the validation every pattern applies (in KubeMQ's order, so the first rule
 * broken is the one reported) and wildcard subscriptions. A channel is `.`-separated tokens; `*`
 * stands for one token and `>` (last only) for one or more, as in NATS, on which KubeMQ is built.
 * Core's topic exchanges know `*` and `#` (zero or more), so a subscription binds the closest core
 * pattern and every delivery is checked against the KubeMQ rule (`matches`).
 */
import { fail, Texts } from './errors.js';

/** Longest channel, in UTF-8 bytes: a channel is a core routing key or queue name (AMQP short strings). */
export const channelBytesMax = 255;

const whitespace = /\s/;

function hasWildcard(channel: string): boolean {
  return channel.includes('*') || channel.includes('>');
}

function checkLength(channel: string): void {
  if (Buffer.byteLength(channel) > channelBytesMax) {
    fail(`invalid channel value, longer than ${channelBytesMax} bytes`);
  }
}

/** Events, events store and requests: 102, 119, 108 and (`wildcards` false) 107. */
export function checkChannel(channel: string, options: { wildcards: boolean }): void {
  if (channel === '') fail(Texts.channelEmpty);
  if (channel.endsWith('.')) fail(Texts.endsWithDot);
  if (whitespace.test(channel)) fail(Texts.whitespace);
  if (!options.wildcards && hasWildcard(channel)) fail(Texts.wildcards);
  if (options.wildcards && !wellFormedPattern(channel)) fail(Texts.wildcards);
  checkLength(channel);
}

/** Queues: one text (120) for every broken rule. */
export function checkQueueName(channel: string): void {
  if (channel === '' || channel.endsWith('.') || whitespace.test(channel) || hasWildcard(channel)) {
    fail(Texts.queueName);
  }
  checkLength(channel);
}

/** `>` only as the last token; a token holding `*` or `>` beside other characters is no wildcard. */
function wellFormedPattern(channel: string): boolean {
  const tokens = channel.split('.');
  return tokens.every((token, i) => token !== '>' || i === tokens.length - 1);
}

/** The core topic pattern to bind for a KubeMQ subscription (`*` → `*`, a final `>` → `#`). */
export function corePattern(channel: string): string {
  return channel
    .split('.')
    .map((token, i, all) => (token === '>' && i === all.length - 1 ? '#' : token))
    .join('.');
}

/** Whether `channel` matches subscription `pattern` by KubeMQ's (NATS') rule. */
export function matches(pattern: string, channel: string): boolean {
  if (pattern === channel) return true;
  const want = pattern.split('.');
  const have = channel.split('.');
  for (let i = 0; i < want.length; i++) {
    const token = want[i]!;
    if (token === '>' && i === want.length - 1) return have.length > i;
    if (i >= have.length) return false;
    if (token !== '*' && token !== have[i]) return false;
  }
  return want.length === have.length;
}

/** Whether a subscription needs the per-delivery check: only patterns core might over-match. */
export function needsCheck(pattern: string): boolean {
  return pattern.includes('>') || pattern.includes('#') || pattern.includes('*');
}
