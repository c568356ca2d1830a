/**
 * Produce under a resource alarm (src/core/alarms.ts). The connection stops at the Produce request,
 * before anything is appended, and waits for the alarms to clear; requests behind it on the same
 * connection wait too, and once `inflightRequestsMax` of them are queued the socket stops being read.
 * Why this and not KIP-219's answer-at-once-with-throttle_time_ms: see README.md, "Resource alarms".
 */
import type { Alarms } from '../../core/api.js';
import type { KafkaInput, ProduceRequest, ProduceResponse } from './codec/index.js';
import { Later, type Reply, type RequestContext } from './context.js';
import { KafkaError } from './errors.js';
import { produceHandler } from './handlers/produce.js';

/** Produce v6 onwards is under KIP-219: the client itself waits out a reported throttle time. */
const clientThrottledVersionMin = 6;

/** True when no alarm is active; false when `timeoutMs` passed or `signal` aborted first. */
function alarmsCleared(alarms: Alarms, timeoutMs: number, signal: AbortSignal): Promise<boolean> {
  if (alarms.active().length === 0) return Promise.resolve(true);
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const finish = (cleared: boolean) => {
      unsubscribe();
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      resolve(cleared);
    };
    const onAbort = () => finish(false);
    const unsubscribe = alarms.subscribe((active) => {
      if (active.length === 0) finish(true);
    });
    const timer = setTimeout(() => finish(false), timeoutMs);
    signal.addEventListener('abort', onAbort);
  });
}

/**
 * Holds one Produce until the alarms clear, at most the request's own timeout (capped by
 * `alarmHoldMsMax`). Cleared: produced as usual, the wait reported as throttle_time_ms to clients that
 * only log it. Still alarmed: REQUEST_TIMED_OUT (retriable) for every partition, nothing appended.
 */
export async function produceUnderAlarm(
  ctx: RequestContext,
  request: ProduceRequest,
  signal: AbortSignal,
): Promise<Reply> {
  const { broker } = ctx;
  const startedMs = Date.now();
  const holdMs = Math.min(broker.options.alarmHoldMsMax, Math.max(request.timeoutMs, 0));
  const cleared = await alarmsCleared(broker.core.alarms, holdMs, signal);
  if (signal.aborted) return null;
  if (!cleared) return request.acks === 0 ? null : refused(request, KafkaError.requestTimedOut);
  const throttleTimeMs = ctx.apiVersion < clientThrottledVersionMin ? Date.now() - startedMs : 0;
  const reply = await produceHandler.handle(ctx, request);
  if (!(reply instanceof Later)) return reply;
  const response = reply.response.then((value) => {
    const body = reply.bodyOf(value);
    return body === null ? null : { ...body, throttleTimeMs };
  });
  return new Later(response, reply.applied);
}

function refused(request: ProduceRequest, errorCode: number): KafkaInput<ProduceResponse> {
  return {
    responses: request.topicData.map((topic) => ({
      name: topic.name,
      partitionResponses: topic.partitionData.map((p) => ({ index: p.index, errorCode })),
    })),
  };
}
