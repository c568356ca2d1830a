/**
 * The ACL APIs (KIP-140, prefixed patterns KIP-290): DescribeAcls 1–3, CreateAcls 1–3 and DeleteAcls
 * 1–3 over core's ACL store, which keeps the bindings in the definitions log. Describing needs DESCRIBE
 * on the cluster, creating and deleting ALTER (CLUSTER_AUTHORIZATION_FAILED otherwise: super users and
 * whoever core allows). Each creation and each delete filter gets its own result, as in Kafka: an
 * unknown code, ANY or MATCH where a binding needs a value, an empty name or a CLUSTER resource not
 * named `kafka-cluster` is INVALID_REQUEST with Kafka's text, and the others go ahead.
 */

import { aclBindingProblem } from '../../../core/acls.js';
import type { AclBinding, AclFilter } from '../../../core/api.js';
import {
  allowed,
  operationCodes,
  patternTypeCodes,
  permissionCodes,
  resourceTypeCodes,
  wordOf,
} from '../acls.js';
import { clusterResource } from '../authorized-operations.js';
import {
  ApiKey,
  type CreateAclsRequest,
  type CreateAclsRequestAclCreation,
  type DeleteAclsRequest,
  type DeleteAclsRequestDeleteAclsFilter,
  type DescribeAclsRequest,
} from '../codec/index.js';
import type { ApiHandler, RequestContext } from '../context.js';
import { KafkaError, kafkaErrorOf } from '../errors.js';

/** ResourceType codes of resources Switchyard has none of: filters on them match nothing. */
const absentResourceTypes: ReadonlySet<number> = new Set([6, 7]);
const clusterRefusal = 'Cluster authorization failed.';

type Refusal = { readonly errorCode: KafkaError; readonly errorMessage: string };

function invalid(errorMessage: string): Refusal {
  return { errorCode: KafkaError.invalidRequest, errorMessage };
}

function isRefusal(value: object): value is Refusal {
  return 'errorCode' in value;
}

/** A creation as a binding, or why Kafka refuses it. */
function bindingOf(c: CreateAclsRequestAclCreation): AclBinding | Refusal {
  const resourceType = wordOf(resourceTypeCodes, c.resourceType);
  const patternType = wordOf(patternTypeCodes, c.resourcePatternType);
  const operation = wordOf(operationCodes, c.operation);
  const permission = wordOf(permissionCodes, c.permissionType);
  if (absentResourceTypes.has(c.resourceType))
    return invalid(`Switchyard has no resources of type ${c.resourceType}`);
  if (resourceType === undefined || resourceType === 'ANY')
    return invalid(`Invalid resourceType ${c.resourceType}`);
  if (patternType !== 'LITERAL' && patternType !== 'PREFIXED')
    return invalid(`Invalid patternType ${c.resourcePatternType}`);
  if (operation === undefined || operation === 'ANY') return invalid(`Invalid operation ${c.operation}`);
  if (permission === undefined || permission === 'ANY')
    return invalid(`Invalid permissionType ${c.permissionType}`);
  const binding: AclBinding = {
    resourceType,
    resourceName: c.resourceName,
    patternType,
    principal: c.principal,
    host: c.host,
    operation,
    permission,
  };
  const problem = aclBindingProblem(binding);
  return problem === undefined ? binding : invalid(problem);
}

/** The fields every filter has, by their names in DescribeAcls (DeleteAcls names them alike). */
type FilterFields = Pick<
  DeleteAclsRequestDeleteAclsFilter,
  | 'resourceTypeFilter'
  | 'resourceNameFilter'
  | 'patternTypeFilter'
  | 'principalFilter'
  | 'hostFilter'
  | 'operation'
  | 'permissionType'
>;

/** A filter as core's, `null` when it can match nothing here, or why it is refused (UNKNOWN parts). */
function filterOf(f: FilterFields): AclFilter | null | Refusal {
  const resourceType = wordOf(resourceTypeCodes, f.resourceTypeFilter);
  const patternType = wordOf(patternTypeCodes, f.patternTypeFilter);
  const operation = wordOf(operationCodes, f.operation);
  const permission = wordOf(permissionCodes, f.permissionType);
  if (patternType === undefined) return invalid('Unknown patternFilter.');
  if (operation === undefined || permission === undefined) return invalid('Unknown entryFilter.');
  if (absentResourceTypes.has(f.resourceTypeFilter)) return null;
  if (resourceType === undefined) return invalid('Unknown patternFilter.');
  return {
    resourceType,
    resourceName: f.resourceNameFilter,
    patternType,
    principal: f.principalFilter,
    host: f.hostFilter,
    operation,
    permission,
  };
}

function describeOut(b: AclBinding) {
  return {
    principal: b.principal,
    host: b.host,
    operation: operationCodes[b.operation],
    permissionType: permissionCodes[b.permission],
  };
}

/** Bindings grouped by resource pattern, as DescribeAcls answers them. */
function byResource(bindings: readonly AclBinding[]) {
  const groups = new Map<
    string,
    { resourceType: number; resourceName: string; patternType: number; acls: object[] }
  >();
  for (const b of bindings) {
    const key = `${b.resourceType}\u0000${b.patternType}\u0000${b.resourceName}`;
    let group = groups.get(key);
    if (group === undefined) {
      group = {
        resourceType: resourceTypeCodes[b.resourceType],
        resourceName: b.resourceName,
        patternType: patternTypeCodes[b.patternType],
        acls: [],
      };
      groups.set(key, group);
    }
    group.acls.push(describeOut(b));
  }
  return [...groups.values()];
}

export const describeAclsHandler: ApiHandler = {
  apiKey: ApiKey.DescribeAcls,
  versionMin: 1,
  versionMax: 3,
  handle(ctx: RequestContext, request: DescribeAclsRequest) {
    if (!allowed(ctx, 'CLUSTER', clusterResource, 'DESCRIBE'))
      return {
        errorCode: KafkaError.clusterAuthorizationFailed,
        errorMessage: clusterRefusal,
        resources: [],
      };
    const filter = filterOf(request);
    if (filter !== null && isRefusal(filter)) return { ...filter, resources: [] };
    const bindings = filter === null ? [] : ctx.client.listAcls(filter);
    return { errorCode: KafkaError.none, errorMessage: null, resources: byResource(bindings) };
  },
};

export const createAclsHandler: ApiHandler = {
  apiKey: ApiKey.CreateAcls,
  versionMin: 1,
  versionMax: 3,
  async handle(ctx: RequestContext, request: CreateAclsRequest) {
    if (!allowed(ctx, 'CLUSTER', clusterResource, 'ALTER'))
      return {
        results: request.creations.map(() => ({
          errorCode: KafkaError.clusterAuthorizationFailed,
          errorMessage: clusterRefusal,
        })),
      };
    const checked = request.creations.map(bindingOf);
    const valid = checked.filter((c): c is AclBinding => !isRefusal(c));
    let failure: Refusal | undefined;
    try {
      await ctx.client.createAcls(valid);
    } catch (err) {
      failure = { errorCode: kafkaErrorOf(err), errorMessage: (err as Error).message };
    }
    const done = { errorCode: KafkaError.none, errorMessage: null };
    return { results: checked.map((c) => (isRefusal(c) ? c : (failure ?? done))) };
  },
};

export const deleteAclsHandler: ApiHandler = {
  apiKey: ApiKey.DeleteAcls,
  versionMin: 1,
  versionMax: 3,
  async handle(ctx: RequestContext, request: DeleteAclsRequest) {
    if (!allowed(ctx, 'CLUSTER', clusterResource, 'ALTER'))
      return {
        filterResults: request.filters.map(() => ({
          errorCode: KafkaError.clusterAuthorizationFailed,
          errorMessage: clusterRefusal,
          matchingAcls: [],
        })),
      };
    const checked = request.filters.map(filterOf);
    const valid = checked.filter((f): f is AclFilter => f !== null && !isRefusal(f));
    let deleted: AclBinding[][];
    try {
      deleted = await ctx.client.deleteAcls(valid);
    } catch (err) {
      const failure = {
        errorCode: kafkaErrorOf(err),
        errorMessage: (err as Error).message,
        matchingAcls: [],
      };
      return {
        filterResults: checked.map((f) =>
          f !== null && isRefusal(f) ? { ...f, matchingAcls: [] } : failure,
        ),
      };
    }
    let next = 0;
    const filterResults = checked.map((f) => {
      if (f !== null && isRefusal(f)) return { ...f, matchingAcls: [] };
      const matched = f === null ? [] : (deleted[next++] ?? []);
      return {
        errorCode: KafkaError.none,
        errorMessage: null,
        matchingAcls: matched.map((b) => ({
          errorCode: KafkaError.none,
          errorMessage: null,
          resourceType: resourceTypeCodes[b.resourceType],
          resourceName: b.resourceName,
          patternType: patternTypeCodes[b.patternType],
          ...describeOut(b),
        })),
      };
    });
    return { filterResults };
  },
};
