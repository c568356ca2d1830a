/**
 * KubeMQ's error texts, word for word as its servers send them (clients and their users match on
 * them), and how core's error codes reach a KubeMQ client. KubeMQ answers most failures with gRPC
 * status INTERNAL and one of these texts, or puts the text in a reply's `Error` field; the REST API
 * puts it in the envelope's `message` with HTTP 400.
 */
import { status } from '@grpc/grpc-js';
import { type BrokerError, ErrorCode, isBrokerError } from '../../shared/errors.js';

export const Texts = {
  clientIdEmpty: 'Error 101: invalid clientID value, cannot be empty',
  channelEmpty: 'Error 102: invalid channel value, cannot be empty',
  wildcards: 'Error 107: invalid channel value, no wildcards are allowed',
  whitespace: 'Error 108: invalid channel value, no white spaces are allowed',
  timeout: 'Error 109: invalid set timeout value, cannot be 0 or negative',
  messageEmpty: 'Error 110: invalid message, cannot be empty',
  storeTypeMissing: 'Error 111: invalid subscription type, cannot be undefined or 0',
  startSequence: 'Error 112: invalid subscription type start at sequence value, cannot by 0 or negative',
  startTime: 'Error 113: invalid subscription type start at time value, cannot by 0 or negative',
  startTimeDelta: 'Error 114: invalid subscription type start at time delta value, cannot by 0 or negative',
  requestEmpty: 'Error 115: invalid request, cannot be empty',
  cacheTtl: 'Error 116: invalid cache ttl value, cannot be 0 or negative',
  requestIdEmpty: 'Error 117: invalid request id, cannot be empty',
  storeTypeOnEvents: 'Error 118: event store parameters were set but subscribe type is not event store',
  endsWithDot: 'Error 119: invalid channel value, cannot end with `.`',
  queueName:
    'Error 120: invalid queue name value, cannot be empty, contains wildcards ,white spaces and end with dot',
  maxMessages: 'Error 122: max messages should be between 1 and max message setting in kubemq config  ',
  noMessageToAck: 'Error 124: no active message to ack',
  ackSequence: 'Error 125: ack sequence cannot be 0 or negative',
  noMessageToSend: 'Error 126: no active message to send',
  visibility: 'Error 127: invalid visibility time, cannot be negative or exceed setting in kubemq config',
  alreadyReceiving: 'Error 128: subscription to queue is already active',
  visibilityExpired: 'Error 129: current visibility timer expired',
  sendFailed: 'Error 130: error during send message to queue',
  invalidQueueMessage: 'Error 131: invalid queue message',
  streamRequestType: 'Error 132: invalid stream queue messages request type',
  expiration: 'Error 133: invalid expiration seconds, exceed max expiration seconds setting in kubemq config',
  maxReceiveCount:
    'Error 134: invalid max received count, cannot be negative or exceed max receive count setting in kubemq config',
  delay: 'Error 135: invalid delay seconds, exceed max delay seconds setting in kubemq config',
  waitTimeout:
    'Error 136: invalid wait timeout, value cannot be negative or exceed max wait timeout seconds setting in kubemq config',
  noMessageToReject: 'Error 137: no active message to reject',
  noNewMessage: 'Error 138: no new message in queue, wait time expired',
  requestType: 'Error 206: invalid request type',
  subscribeType: 'Error 207: invalid subscribe type',
  requestTimeout: 'Error 301: timeout for request message',
} as const;

/** A failure told to the client as KubeMQ tells it: a text, over gRPC with a status code. */
export class KubemqFailure extends Error {
  readonly code: status;

  constructor(text: string, code: status = status.INTERNAL) {
    super(text);
    this.name = 'KubemqFailure';
    this.code = code;
  }
}

export function fail(text: string): never {
  throw new KubemqFailure(text);
}

/** Core's error codes as gRPC status codes, for failures KubeMQ has no text of its own for. */
const grpcStatusOf: Readonly<Record<ErrorCode, status>> = {
  [ErrorCode.notFound]: status.NOT_FOUND,
  [ErrorCode.preconditionFailed]: status.FAILED_PRECONDITION,
  [ErrorCode.resourceLocked]: status.FAILED_PRECONDITION,
  [ErrorCode.accessRefused]: status.PERMISSION_DENIED,
  [ErrorCode.resourceExhausted]: status.RESOURCE_EXHAUSTED,
  [ErrorCode.invalidArgument]: status.INVALID_ARGUMENT,
  [ErrorCode.invalidState]: status.FAILED_PRECONDITION,
  [ErrorCode.notImplemented]: status.UNIMPLEMENTED,
  [ErrorCode.storageCorrupt]: status.DATA_LOSS,
  [ErrorCode.storageFailed]: status.UNAVAILABLE,
  [ErrorCode.internal]: status.INTERNAL,
};

/** Any error as a KubeMQ failure: ours as they are, core's with their status, others as INTERNAL. */
export function asFailure(err: unknown): KubemqFailure {
  if (err instanceof KubemqFailure) return err;
  if (isBrokerError(err)) return new KubemqFailure(err.message, grpcStatusOf[(err as BrokerError).code]);
  return new KubemqFailure(err instanceof Error ? err.message : String(err));
}

/** The text of any error, for a reply's `Error` field. */
export function errorText(err: unknown): string {
  return asFailure(err).message;
}

/** What ends a subscription or stream whose login's token expired. */
export function tokenExpired(): KubemqFailure {
  return new KubemqFailure('access refused: token expired', status.UNAUTHENTICATED);
}
