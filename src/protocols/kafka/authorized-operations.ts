/**
 * The authorized-operations bit fields of Metadata v8+ and DescribeGroups v3+ (KIP-430). Switchyard's
 * Kafka listener has no authorizer, so, as a Kafka broker without one, it answers every operation the
 * resource type supports: bit `code` set for each operation's code (AclOperation), per resource type
 * as Kafka's AclEntry.supportedOperations lists them.
 */

/** Kafka's AclOperation codes. */
const operation = {
  read: 3,
  write: 4,
  create: 5,
  delete: 6,
  alter: 7,
  describe: 8,
  clusterAction: 9,
  describeConfigs: 10,
  alterConfigs: 11,
  idempotentWrite: 12,
} as const;

/** What a client gets when it did not ask for the field (the schema default, Integer.MIN_VALUE). */
export const operationsNotAsked = -2147483648;

function bitField(codes: readonly number[]): number {
  let bits = 0;
  for (const code of codes) bits |= 1 << code;
  return bits;
}

const o = operation;
export const topicOperations = bitField([
  o.read,
  o.write,
  o.create,
  o.delete,
  o.alter,
  o.describe,
  o.describeConfigs,
  o.alterConfigs,
]);
export const clusterOperations = bitField([
  o.create,
  o.clusterAction,
  o.describeConfigs,
  o.alterConfigs,
  o.idempotentWrite,
  o.alter,
  o.describe,
]);
export const groupOperations = bitField([o.read, o.describe, o.delete, o.describeConfigs, o.alterConfigs]);
