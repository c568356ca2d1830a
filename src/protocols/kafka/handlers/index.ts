/**
 * Every API the listener serves, with the version range it advertises (MinVersion 0; the share group
 * APIs and the ACL APIs, whose version 0 Kafka 4 removed, 1).
 *
 * The APIs every client uses are loaded with the listener. Those an idle or ordinary deployment never
 * calls (ACLs, configs, SCRAM credentials, KIP-848 and share groups, transactions) are listed here with
 * their ranges and their module is imported at the first request for one of them: that request (and
 * the connection's requests behind it, which are handled in order) waits for the import, once per
 * process (docs/performance.md, "Memory: the young generation after start"). ApiVersions lists them all
 * without loading them.
 */
import type { ApiVersionsResponse, KafkaInput } from '../codec/index.js';
import { ApiKey } from '../codec/index.js';
import type { ApiHandler } from '../context.js';
import { KafkaError } from '../errors.js';
import {
  createPartitionsHandler,
  createTopicsHandler,
  deleteRecordsHandler,
  deleteTopicsHandler,
  describeClusterHandler,
  describeLogDirsHandler,
  initProducerIdHandler,
} from './admin.js';
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

type HandlerModule = Readonly<Record<string, unknown>>;

/**
 * A handler whose module is imported at its first request. `name` is the handler's export; once
 * loaded, requests go straight to it (a handler that answers at once still does). A failed import is
 * tried again at the next request.
 */
export function onFirstUse(
  apiKey: number,
  versionMin: number,
  versionMax: number,
  load: () => Promise<HandlerModule>,
  name: string,
): ApiHandler {
  let loaded: ApiHandler | undefined;
  let loading: Promise<ApiHandler> | undefined;
  const importHandler = async (): Promise<ApiHandler> => {
    const handler = (await load())[name] as ApiHandler;
    if (handler?.apiKey !== apiKey) throw new Error(`kafka: ${name} is not the handler of API ${apiKey}`);
    loaded = handler;
    return handler;
  };
  return {
    apiKey,
    versionMin,
    versionMax,
    handle(ctx, request) {
      if (loaded !== undefined) return loaded.handle(ctx, request);
      loading ??= importHandler().catch((err: unknown) => {
        loading = undefined;
        throw err;
      });
      return loading.then((handler) => handler.handle(ctx, request));
    },
  };
}

const acls = () => import('./acls.js');
const configs = () => import('./configs.js');
const consumerGroups = () => import('./consumer-groups.js');
const scram = () => import('./scram.js');
const shareGroups = () => import('./share-groups.js');
const transactions = () => import('./transactions.js');

/** The handlers loaded at their first request; test/protocol checks each range against its module. */
export const loadedOnFirstUse: readonly ApiHandler[] = [
  onFirstUse(ApiKey.DescribeConfigs, 0, 4, configs, 'describeConfigsHandler'),
  onFirstUse(ApiKey.AddPartitionsToTxn, 0, 5, transactions, 'addPartitionsToTxnHandler'),
  onFirstUse(ApiKey.AddOffsetsToTxn, 0, 4, transactions, 'addOffsetsToTxnHandler'),
  onFirstUse(ApiKey.EndTxn, 0, 5, transactions, 'endTxnHandler'),
  onFirstUse(ApiKey.TxnOffsetCommit, 0, 5, transactions, 'txnOffsetCommitHandler'),
  onFirstUse(ApiKey.DescribeProducers, 0, 0, transactions, 'describeProducersHandler'),
  onFirstUse(ApiKey.DescribeTransactions, 0, 0, transactions, 'describeTransactionsHandler'),
  onFirstUse(ApiKey.ListTransactions, 0, 2, transactions, 'listTransactionsHandler'),
  onFirstUse(ApiKey.DescribeAcls, 1, 3, acls, 'describeAclsHandler'),
  onFirstUse(ApiKey.CreateAcls, 1, 3, acls, 'createAclsHandler'),
  onFirstUse(ApiKey.DeleteAcls, 1, 3, acls, 'deleteAclsHandler'),
  onFirstUse(ApiKey.AlterConfigs, 0, 2, configs, 'alterConfigsHandler'),
  onFirstUse(ApiKey.IncrementalAlterConfigs, 0, 1, configs, 'incrementalAlterConfigsHandler'),
  onFirstUse(ApiKey.ConsumerGroupHeartbeat, 0, 1, consumerGroups, 'consumerGroupHeartbeatHandler'),
  onFirstUse(ApiKey.ConsumerGroupDescribe, 0, 1, consumerGroups, 'consumerGroupDescribeHandler'),
  onFirstUse(ApiKey.ShareGroupHeartbeat, 1, 1, shareGroups, 'shareGroupHeartbeatHandler'),
  onFirstUse(ApiKey.ShareGroupDescribe, 1, 1, shareGroups, 'shareGroupDescribeHandler'),
  onFirstUse(ApiKey.ShareFetch, 1, 1, shareGroups, 'shareFetchHandler'),
  onFirstUse(ApiKey.ShareAcknowledge, 1, 1, shareGroups, 'shareAcknowledgeHandler'),
  onFirstUse(ApiKey.DescribeUserScramCredentials, 0, 0, scram, 'describeUserScramCredentialsHandler'),
  onFirstUse(ApiKey.AlterUserScramCredentials, 0, 0, scram, 'alterUserScramCredentialsHandler'),
];

/**
 * ApiVersions v3 is flexible and carries the client's name (KIP-511); v4 is v3 with supported
 * features whose minimum is 0 listed (KAFKA-17011).
 */
const apiVersionsMax = 4;
/** From this version a supported feature's minimum may be 0 (KAFKA-17011). */
const featuresFromZeroVersionMin = 4;

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
  createPartitionsHandler,
  deleteGroupsHandler,
  deleteRecordsHandler,
  describeLogDirsHandler,
  offsetDeleteHandler,
  describeClusterHandler,
  saslHandshakeHandler,
  saslAuthenticateHandler,
  ...loadedOnFirstUse,
];

function advertised(): Array<{ apiKey: number; minVersion: number; maxVersion: number }> {
  const list = served.map((h) => ({ apiKey: h.apiKey, minVersion: h.versionMin, maxVersion: h.versionMax }));
  list.push({ apiKey: ApiKey.ApiVersions, minVersion: 0, maxVersion: apiVersionsMax });
  return list.sort((a, b) => a.apiKey - b.apiKey);
}

/**
 * Transaction version 2 (KIP-890 part 2) is on, as a Kafka 4 cluster finalizes it (KIP-1022): a
 * client that reads the finalized `transaction.version` (the Java client 4.x) lets Produce 12 add
 * partitions and EndTxn 5 bump the epoch; others never look. The finalized level is in every
 * flexible version; the supported range (0–2) only from v4, as Kafka leaves out every feature whose
 * minimum is 0 below it (KAFKA-17011). The epoch is constant: the level never changes while running.
 */
const finalizedFeatures = {
  finalizedFeaturesEpoch: 0n,
  finalizedFeatures: [{ name: 'transaction.version', maxVersionLevel: 2, minVersionLevel: 2 }],
};
const supportedFromZero = [{ name: 'transaction.version', minVersion: 0, maxVersion: 2 }];

const apiVersionsHandler: ApiHandler = {
  apiKey: ApiKey.ApiVersions,
  versionMin: 0,
  versionMax: apiVersionsMax,
  handle(ctx): KafkaInput<ApiVersionsResponse> {
    // Tagged fields: versions below 3 leave them out (they are ignorable).
    const supported =
      ctx.apiVersion >= featuresFromZeroVersionMin ? { supportedFeatures: supportedFromZero } : {};
    return { errorCode: KafkaError.none, apiKeys: advertised(), ...supported, ...finalizedFeatures };
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
