/**
 * Kafka error codes the broker answers with (protocol guide "Error Codes"), and the mapping from
 * core's `BrokerError` codes onto them.
 */
import type { TxnRefusal } from '../../core/api.js';
import { ErrorCode, isBrokerError } from '../../shared/errors.js';

export const KafkaError = {
  unknownServerError: -1,
  none: 0,
  offsetOutOfRange: 1,
  corruptMessage: 2,
  unknownTopicOrPartition: 3,
  requestTimedOut: 7,
  messageTooLarge: 10,
  coordinatorNotAvailable: 15,
  notCoordinator: 16,
  invalidTopic: 17,
  notEnoughReplicas: 19,
  invalidRequiredAcks: 21,
  topicAuthorizationFailed: 29,
  groupAuthorizationFailed: 30,
  clusterAuthorizationFailed: 31,
  invalidTimestamp: 32,
  illegalGeneration: 22,
  inconsistentGroupProtocol: 23,
  invalidGroupId: 24,
  unknownMemberId: 25,
  invalidSessionTimeout: 26,
  rebalanceInProgress: 27,
  unsupportedVersion: 35,
  topicAlreadyExists: 36,
  invalidPartitions: 37,
  invalidReplicationFactor: 38,
  invalidConfig: 40,
  invalidRequest: 42,
  policyViolation: 44,
  unsupportedForMessageFormat: 43,
  outOfOrderSequenceNumber: 45,
  duplicateSequenceNumber: 46,
  invalidProducerEpoch: 47,
  invalidTxnState: 48,
  invalidProducerIdMapping: 49,
  invalidTransactionTimeout: 50,
  concurrentTransactions: 51,
  transactionalIdAuthorizationFailed: 53,
  unsupportedSaslMechanism: 33,
  illegalSaslState: 34,
  saslAuthenticationFailed: 58,
  operationNotAttempted: 55,
  kafkaStorageError: 56,
  unknownProducerId: 59,
  nonEmptyGroup: 68,
  groupIdNotFound: 69,
  fetchSessionIdNotFound: 70,
  invalidFetchSessionEpoch: 71,
  memberIdRequired: 79,
  groupMaxSizeReached: 81,
  fencedInstanceId: 82,
  groupSubscribedToTopic: 86,
  resourceNotFound: 91,
  duplicateResource: 92,
  unacceptableCredential: 93,
  invalidRecord: 87,
  unstableOffsetCommit: 88,
  producerFenced: 90,
  unknownTopicId: 100,
  transactionalIdNotFound: 105,
  fencedMemberEpoch: 110,
  unreleasedInstanceId: 111,
  unsupportedAssignor: 112,
  staleMemberEpoch: 113,
  transactionAbortable: 120,
  invalidRecordState: 121,
  shareSessionNotFound: 122,
  invalidShareSessionEpoch: 123,
  invalidRegularExpression: 128,
  shareSessionLimitReached: 133,
} as const;
export type KafkaError = (typeof KafkaError)[keyof typeof KafkaError];

/** The Kafka code for an error thrown by core or storage while serving one topic or partition. */
export function kafkaErrorOf(err: unknown): KafkaError {
  if (!isBrokerError(err)) return KafkaError.unknownServerError;
  switch (err.code) {
    case ErrorCode.notFound:
      return KafkaError.unknownTopicOrPartition;
    // What core refuses a Kafka client is a topic it may not touch (group and transaction refusals are
    // mapped where those are handled).
    case ErrorCode.accessRefused:
      return KafkaError.topicAuthorizationFailed;
    case ErrorCode.invalidArgument:
      return KafkaError.invalidRequest;
    case ErrorCode.resourceExhausted:
      return KafkaError.messageTooLarge;
    case ErrorCode.storageCorrupt:
    case ErrorCode.storageFailed:
      return KafkaError.kafkaStorageError;
    default:
      return KafkaError.unknownServerError;
  }
}

/**
 * Kafka's code for a transaction refusal (InitProducerId and the transaction requests).
 * PRODUCER_FENCED exists from these versions on (KIP-588); older clients are told
 * INVALID_PRODUCER_EPOCH, which they also treat as fatal.
 */
export function txnErrorOf(reason: TxnRefusal, fencedFrom: number, version: number): KafkaError {
  switch (reason) {
    case 'fenced':
      return version >= fencedFrom ? KafkaError.producerFenced : KafkaError.invalidProducerEpoch;
    case 'producerIdMismatch':
      return KafkaError.invalidProducerIdMapping;
    case 'invalidState':
      return KafkaError.invalidTxnState;
    case 'concurrent':
      return KafkaError.concurrentTransactions;
    case 'invalidTimeout':
      return KafkaError.invalidTransactionTimeout;
    case 'unknownPartition':
      return KafkaError.unknownTopicOrPartition;
  }
}
