/**
 * Every bound of the KubeMQ front end, with KubeMQ's own where it has one (its `config/queue.go`
 * defaults: 1,024 messages a receive, 3,600 s of wait, 43,200 s of delay, expiry and visibility,
 * 1,024 receives) and ours for the buffers it leaves unbounded.
 */
export interface KubemqLimits {
  /** Largest message body, and largest gRPC message (KubeMQ: 100 MiB). */
  readonly messageBytesMax: number;
  /** Largest REST body or WebSocket frame: a 100 MiB body in base64 plus its JSON. */
  readonly jsonBytesMax: number;
  /**
   * Events waiting in one subscriber's core queue; past it the oldest are dropped (core's drop-head
   * overflow). KubeMQ drops the newest after 2 s instead; either way events are at most once.
   */
  readonly eventsBacklogMax: number;
  /** Items written to one subscriber's stream and not yet taken by the transport (its window). */
  readonly deliveryWindow: number;
  /** Events-store sends on one stream waiting to be durable before reading that stream pauses. */
  readonly pendingSendsMax: number;
  /** Messages one `ReceiveQueueMessages` may ask for. */
  readonly receiveMessagesMax: number;
  /**
   * Messages one `SendQueueMessagesBatch` (REST `/queue/send_batch`) or one `QueuesUpstream` request
   * may carry; a larger batch is refused whole. Checking, storing and answering cost about 15–20 µs a
   * message on the one event loop, so 100,000 held every other client for seconds.
   */
  readonly batchMessagesMax: number;
  /** Messages one `QueuesDownstream` get may hold (KubeMQ allows 200,000; they are held in memory). */
  readonly downstreamItemsMax: number;
  /** Open transactions on one `QueuesDownstream` stream. */
  readonly transactionsMax: number;
  readonly waitSecondsMax: number;
  readonly waitSecondsDefault: number;
  readonly delaySecondsMax: number;
  readonly expirationSecondsMax: number;
  readonly visibilitySecondsMax: number;
  readonly visibilitySecondsDefault: number;
  /** `MaxReceiveCount` bound, and its value when a message sets 0. */
  readonly receiveCountMax: number;
  /** Query cache: entries and bytes of cached responses, across all channels. */
  readonly cacheEntriesMax: number;
  readonly cacheBytesMax: number;
  /** Time between two commits of an events-store subscriber's position. */
  readonly positionCommitMs: number;
  /**
   * gRPC keepalive: a connection silent this long is sent an HTTP/2 PING, and closed when no answer
   * comes within `keepaliveTimeoutMs`. So a subscriber whose client went away without a word (its
   * TCP connection ended, or the host vanished) is let go even on a channel that carries nothing.
   */
  readonly keepaliveMs: number;
  readonly keepaliveTimeoutMs: number;
  /**
   * A REST request's head and body must be whole within this, else 408 and the socket closed (Node's
   * default, 300 s, let a body sent a byte at a time hold its socket for five minutes). A largest body
   * (`jsonBytesMax`) needs about 2.3 MB/s to arrive in time.
   */
  readonly requestTimeoutMs: number;
  /** Streams one gRPC connection may have open at once (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS). */
  readonly streamsPerConnectionMax: number;
  /** Bytes of a gRPC call's metadata, names and values; a larger one is refused (RESOURCE_EXHAUSTED). */
  readonly metadataBytesMax: number;
}

const mebibyte = 1024 * 1024;

export const kubemqLimitsDefault: KubemqLimits = {
  messageBytesMax: 100 * mebibyte,
  jsonBytesMax: 136 * mebibyte,
  eventsBacklogMax: 10_000,
  deliveryWindow: 1_000,
  pendingSendsMax: 10_000,
  receiveMessagesMax: 1024,
  batchMessagesMax: 1024,
  downstreamItemsMax: 10_000,
  transactionsMax: 1024,
  waitSecondsMax: 3600,
  waitSecondsDefault: 1,
  delaySecondsMax: 43_200,
  expirationSecondsMax: 43_200,
  visibilitySecondsMax: 43_200,
  visibilitySecondsDefault: 60,
  receiveCountMax: 1024,
  cacheEntriesMax: 10_000,
  cacheBytesMax: 64 * mebibyte,
  positionCommitMs: 1000,
  keepaliveMs: 30_000,
  keepaliveTimeoutMs: 10_000,
  requestTimeoutMs: 60_000,
  streamsPerConnectionMax: 1000,
  metadataBytesMax: 64 * 1024,
};
