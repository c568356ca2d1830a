/**
 * The authorized-operations bit fields of Metadata v8+, DescribeCluster, DescribeGroups v3+ and the
 * KIP-848 and share group describes (KIP-430): bit n set for each operation of code n (AclOperation)
 * that the resource type supports, as Kafka's AclEntry.supportedOperations lists them, and that the
 * request may do (./acls.ts: core's decision, the ACLs included).
 */
import type { AclAction } from '../../core/api.js';
import { allowed, operationCodes } from './acls.js';
import type { RequestContext } from './context.js';

/** What a client gets when it did not ask for the field (the schema default, Integer.MIN_VALUE). */
export const operationsNotAsked = -2147483648;

type Operation = AclAction['operation'];

const supported: Readonly<Record<'TOPIC' | 'GROUP' | 'CLUSTER', readonly Operation[]>> = {
  TOPIC: ['READ', 'WRITE', 'CREATE', 'DELETE', 'ALTER', 'DESCRIBE', 'DESCRIBE_CONFIGS', 'ALTER_CONFIGS'],
  GROUP: ['READ', 'DESCRIBE', 'DELETE', 'DESCRIBE_CONFIGS', 'ALTER_CONFIGS'],
  CLUSTER: [
    'CREATE',
    'CLUSTER_ACTION',
    'DESCRIBE_CONFIGS',
    'ALTER_CONFIGS',
    'IDEMPOTENT_WRITE',
    'ALTER',
    'DESCRIBE',
  ],
};

/** The operations the request may do on the resource, as a bit field. */
export function authorizedOperations(
  ctx: RequestContext,
  resourceType: 'TOPIC' | 'GROUP' | 'CLUSTER',
  resourceName: string,
): number {
  let bits = 0;
  for (const operation of supported[resourceType]) {
    if (allowed(ctx, resourceType, resourceName, operation)) bits |= 1 << operationCodes[operation];
  }
  return bits;
}

/** The group's operations when asked (`asked`), else the schema default. */
export function groupOperationsIf(ctx: RequestContext, asked: boolean, groupId: string): number {
  return asked ? authorizedOperations(ctx, 'GROUP', groupId) : operationsNotAsked;
}

/**
 * The cluster's operations when asked: 0 unless the request may DESCRIBE the cluster, as Kafka
 * answers Metadata and DescribeCluster.
 */
export function clusterOperationsIf(ctx: RequestContext, asked: boolean): number {
  if (!asked) return operationsNotAsked;
  return allowed(ctx, 'CLUSTER', clusterResource, 'DESCRIBE')
    ? authorizedOperations(ctx, 'CLUSTER', clusterResource)
    : 0;
}

export const clusterResource = 'kafka-cluster';
