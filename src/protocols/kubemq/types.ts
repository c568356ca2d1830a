/**
 * The KubeMQ wire messages (spec/kubemq/kubemq.proto), as the codec (protobuf.ts) hands them over, in @grpc/proto-loader's shapes: PascalCase
 * names, every field present (proto3 defaults), int64 as decimal strings on the way in. Outgoing
 * int64 fields may be numbers or strings.
 */
export type Int64 = string | number;
export type Tags = Record<string, string>;

export const SubscribeType = { events: 1, eventsStore: 2, commands: 3, queries: 4 } as const;
export const StoreStart = {
  newOnly: 1,
  first: 2,
  last: 3,
  atSequence: 4,
  atTime: 5,
  atTimeDelta: 6,
} as const;
export const RequestType = { command: 1, query: 2 } as const;
export const StreamRequestType = {
  receive: 1,
  ack: 2,
  reject: 3,
  modifyVisibility: 4,
  resend: 5,
  sendModified: 6,
} as const;
export const DownstreamType = {
  get: 1,
  ackAll: 2,
  ackRange: 3,
  nackAll: 4,
  nackRange: 5,
  requeueAll: 6,
  requeueRange: 7,
  activeOffsets: 8,
  transactionStatus: 9,
  closeByClient: 10,
  closeByServer: 11,
} as const;

export interface PingResult {
  Host: string;
  Version: string;
  ServerStartTime: Int64;
  ServerUpTimeSeconds: Int64;
}

export interface Event {
  EventID: string;
  ClientID: string;
  Channel: string;
  Metadata: string;
  Body: Uint8Array;
  Store: boolean;
  Tags: Tags;
}

export interface Result {
  EventID: string;
  Sent: boolean;
  Error: string;
}

export interface EventReceive {
  EventID: string;
  Channel: string;
  Metadata: string;
  Body: Uint8Array;
  Timestamp: Int64;
  Sequence: Int64;
  Tags: Tags;
}

export interface Subscribe {
  SubscribeTypeData: number;
  ClientID: string;
  Channel: string;
  Group: string;
  EventsStoreTypeData: number;
  EventsStoreTypeValue: Int64;
}

export interface Request {
  RequestID: string;
  RequestTypeData: number;
  ClientID: string;
  Channel: string;
  Metadata: string;
  Body: Uint8Array;
  ReplyChannel: string;
  Timeout: number;
  CacheKey: string;
  CacheTTL: number;
  Span: Uint8Array;
  Tags: Tags;
}

export interface Response {
  ClientID: string;
  RequestID: string;
  ReplyChannel: string;
  Metadata: string;
  Body: Uint8Array;
  CacheHit: boolean;
  Timestamp: Int64;
  Executed: boolean;
  Error: string;
  Span: Uint8Array;
  Tags: Tags;
}

export interface QueueMessageAttributes {
  Timestamp: Int64;
  Sequence: Int64;
  MD5OfBody: string;
  ReceiveCount: number;
  ReRouted: boolean;
  ReRoutedFromQueue: string;
  ExpirationAt: Int64;
  DelayedTo: Int64;
}

export interface QueueMessagePolicy {
  ExpirationSeconds: number;
  DelaySeconds: number;
  MaxReceiveCount: number;
  MaxReceiveQueue: string;
}

export interface QueueMessage {
  MessageID: string;
  ClientID: string;
  Channel: string;
  Metadata: string;
  Body: Uint8Array;
  Tags: Tags;
  Attributes: QueueMessageAttributes | null;
  Policy: QueueMessagePolicy | null;
  Topic: string;
  Partition: number;
  PartitionKey: string;
}

export interface SendQueueMessageResult {
  MessageID: string;
  SentAt: Int64;
  ExpirationAt: Int64;
  DelayedTo: Int64;
  IsError: boolean;
  Error: string;
  RefChannel?: string;
}

export interface QueueMessagesBatchRequest {
  BatchID: string;
  Messages: QueueMessage[];
}

export interface QueueMessagesBatchResponse {
  BatchID: string;
  Results: SendQueueMessageResult[];
  HaveErrors: boolean;
}

export interface ReceiveQueueMessagesRequest {
  RequestID: string;
  ClientID: string;
  Channel: string;
  MaxNumberOfMessages: number;
  WaitTimeSeconds: number;
  IsPeak: boolean;
}

export interface ReceiveQueueMessagesResponse {
  RequestID: string;
  Messages: QueueMessage[];
  MessagesReceived: number;
  MessagesExpired: number;
  IsPeak: boolean;
  IsError: boolean;
  Error: string;
}

export interface AckAllQueueMessagesRequest {
  RequestID: string;
  ClientID: string;
  Channel: string;
  WaitTimeSeconds: number;
}

export interface AckAllQueueMessagesResponse {
  RequestID: string;
  AffectedMessages: Int64;
  IsError: boolean;
  Error: string;
}

export interface StreamQueueMessagesRequest {
  RequestID: string;
  ClientID: string;
  StreamRequestTypeData: number;
  Channel: string;
  VisibilitySeconds: number;
  WaitTimeSeconds: number;
  RefSequence: Int64;
  ModifiedMessage: QueueMessage | null;
}

export interface StreamQueueMessagesResponse {
  RequestID: string;
  StreamRequestTypeData: number;
  Message: QueueMessage | null;
  IsError: boolean;
  Error: string;
}

export interface QueuesUpstreamRequest {
  RequestID: string;
  Messages: QueueMessage[];
}

export interface QueuesUpstreamResponse {
  RefRequestID: string;
  Results: SendQueueMessageResult[];
  IsError: boolean;
  Error: string;
}

export interface QueuesDownstreamRequest {
  RequestID: string;
  ClientID: string;
  RequestTypeData: number;
  Channel: string;
  MaxItems: number;
  WaitTimeout: number;
  AutoAck: boolean;
  ReQueueChannel: string;
  SequenceRange: Int64[];
  RefTransactionId: string;
  Metadata: Tags;
}

export interface QueuesDownstreamResponse {
  TransactionId: string;
  RefRequestId: string;
  RequestTypeData: number;
  Messages: QueueMessage[];
  ActiveOffsets: Int64[];
  IsError: boolean;
  Error: string;
  TransactionComplete: boolean;
  Metadata: Tags;
}

export interface QueueInfo {
  Name: string;
  Messages: Int64;
  Bytes: Int64;
  FirstSequence: Int64;
  LastSequence: Int64;
  Sent: Int64;
  Delivered: Int64;
  Waiting: Int64;
  Subscribers: Int64;
}

export interface QueuesInfoRequest {
  RequestID: string;
  QueueName: string;
}

export interface QueuesInfoResponse {
  RefRequestID: string;
  Info: {
    TotalQueue: number;
    Sent: Int64;
    Delivered: Int64;
    Waiting: Int64;
    Queues: QueueInfo[];
  };
}
