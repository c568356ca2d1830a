/** `Ping` (host, version, start time in s, uptime in s) and `QueuesInfo` (per-queue counters). */
import type { Caller, KubemqServer } from './server.js';
import type { PingResult, QueueInfo, QueuesInfoRequest, QueuesInfoResponse } from './types.js';

export function ping(server: KubemqServer): PingResult {
  const nowMs = server.core.clock.now();
  return {
    Host: server.host,
    Version: server.version,
    ServerStartTime: Math.floor(server.startedAtMs / 1000),
    ServerUpTimeSeconds: Math.max(0, Math.floor((nowMs - server.startedAtMs) / 1000)),
  };
}

/**
 * Every classic queue of the vhost (KubeMQ queue channels and AMQP queues alike), or those named in
 * `QueueName` (`;`-separated, exact names, as KubeMQ filters). Sent and delivered count since the
 * queue was declared in this run; waiting is what is ready now. Sequences are not tracked (0).
 */
export function queuesInfo(caller: Caller, request: QueuesInfoRequest): QueuesInfoResponse {
  const wanted = request.QueueName === '' ? undefined : new Set(request.QueueName.split(';'));
  const queues: QueueInfo[] = [];
  for (const queue of caller.core.listQueues()) {
    if (queue.kind === 'stream' || queue.durable !== true || queue.exclusiveOwner !== undefined) continue;
    if (wanted !== undefined && !wanted.has(queue.name)) continue;
    const counts = caller.core.queueCounts(queue.name);
    queues.push({
      Name: queue.name,
      Messages: queue.messageCount,
      Bytes: 0,
      FirstSequence: 0,
      LastSequence: 0,
      Sent: counts?.published ?? 0,
      Delivered: counts?.delivered ?? 0,
      Waiting: queue.messageCount,
      Subscribers: queue.consumerCount,
    });
  }
  const sum = (field: 'Sent' | 'Delivered' | 'Waiting') => queues.reduce((n, q) => n + Number(q[field]), 0);
  return {
    RefRequestID: request.RequestID,
    Info: {
      TotalQueue: queues.length,
      Sent: sum('Sent'),
      Delivered: sum('Delivered'),
      Waiting: sum('Waiting'),
      Queues: queues,
    },
  };
}
