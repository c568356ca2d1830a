/**
 * Every API the listener serves, with the version range it advertises (MinVersion 0; the share group
 * APIs and the ACL APIs, whose version 0 Kafka 4 removed, 1).
 */
import type { ApiVersionsResponse, KafkaInput } from '../codec/index.js';
import { ApiKey } from '../codec/index.js';
import type { ApiHandler } from '../context.js';
import { KafkaError } from '../errors.js';
import { createAclsHandler, deleteAclsHandler, describeAclsHandler } from './acls.js';
import {
  createPartitionsHandler,
  createTopicsHandler,
  deleteRecordsHandler,
  deleteTopicsHandler,
  describeClusterHandler,
  describeLogDirsHandler,
  initProducerIdHandler,
} from './admin.js';
import { alterConfigsHandler, describeConfigsHandler, incrementalAlterConfigsHandler } from './configs.js';
import { consumerGroupDescribeHandler, consumerGroupHeartbeatHandler } from './consumer-groups.js';
import { fetchHandler } from './fetch.js';
import {
  deleteGroupsHandler,
  describeGroupsHandler,
  findCoordinatorHandler,
  heartbeatHandler,
  joinGroupHandler,
  leaveGroupHandler,
  listGroupsHandler,
  syncGroupHandler,
} from './groups.js';
import { metadataHandler } from './metadata.js';
import {
  listOffsetsHandler,
  offsetCommitHandler,
  offsetDeleteHandler,
  offsetFetchHandler,
} from './offsets.js';
import { produceHandler } from './produce.js';
import { saslAuthenticateHandler, saslHandshakeHandler } from './sasl.js';
import { alterUserScramCredentialsHandler, describeUserScramCredentialsHandler } from './scram.js';
import {
  shareAcknowledgeHandler,
  shareFetchHandler,
  shareGroupDescribeHandler,
  shareGroupHeartbeatHandler,
} from './share-groups.js';
import {
  addOffsetsToTxnHandler,
  addPartitionsToTxnHandler,
  describeProducersHandler,
  describeTransactionsHandler,
  endTxnHandler,
  listTransactionsHandler,
  txnOffsetCommitHandler,
} from './transactions.js';

/** ApiVersions v3 is flexible and carries the client's name (KIP-511); v4 is not offered. */
const apiVersionsMax = 3;

const served: ApiHandler[] = [
  produceHandler,
  fetchHandler,
  listOffsetsHandler,
  metadataHandler,
  offsetCommitHandler,
  offsetFetchHandler,
  findCoordinatorHandler,
  joinGroupHandler,
  heartbeatHandler,
  leaveGroupHandler,
  syncGroupHandler,
  describeGroupsHandler,
  listGroupsHandler,
  createTopicsHandler,
  deleteTopicsHandler,
  initProducerIdHandler,
  describeConfigsHandler,
  createPartitionsHandler,
  deleteGroupsHandler,
  addPartitionsToTxnHandler,
  addOffsetsToTxnHandler,
  endTxnHandler,
  txnOffsetCommitHandler,
  describeProducersHandler,
  describeTransactionsHandler,
  listTransactionsHandler,
  describeAclsHandler,
  createAclsHandler,
  deleteAclsHandler,
  deleteRecordsHandler,
  alterConfigsHandler,
  describeLogDirsHandler,
  incrementalAlterConfigsHandler,
  offsetDeleteHandler,
  describeClusterHandler,
  consumerGroupHeartbeatHandler,
  consumerGroupDescribeHandler,
  shareGroupHeartbeatHandler,
  shareGroupDescribeHandler,
  shareFetchHandler,
  shareAcknowledgeHandler,
  saslHandshakeHandler,
  saslAuthenticateHandler,
  describeUserScramCredentialsHandler,
  alterUserScramCredentialsHandler,
];

function advertised(): Array<{ apiKey: number; minVersion: number; maxVersion: number }> {
  const list = served.map((h) => ({ apiKey: h.apiKey, minVersion: h.versionMin, maxVersion: h.versionMax }));
  list.push({ apiKey: ApiKey.ApiVersions, minVersion: 0, maxVersion: apiVersionsMax });
  return list.sort((a, b) => a.apiKey - b.apiKey);
}

const apiVersionsHandler: ApiHandler = {
  apiKey: ApiKey.ApiVersions,
  versionMin: 0,
  versionMax: apiVersionsMax,
  handle(): KafkaInput<ApiVersionsResponse> {
    return { errorCode: KafkaError.none, apiKeys: advertised() };
  },
};

/**
 * The answer to an ApiVersions request this broker cannot read (a newer version, or a body that
 * fails to parse): always encoded as v0, listing ApiVersions' own range so the client can step down
 * (KIP-511; librdkafka retries with v0 on INVALID_REQUEST).
 */
export function apiVersionsFallback(errorCode: KafkaError): KafkaInput<ApiVersionsResponse> {
  return { errorCode, apiKeys: [{ apiKey: ApiKey.ApiVersions, minVersion: 0, maxVersion: apiVersionsMax }] };
}

export const handlers: ReadonlyMap<number, ApiHandler> = new Map(
  [...served, apiVersionsHandler].map((h) => [h.apiKey, h]),
);
