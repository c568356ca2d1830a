/**
 * IncrementalAlterConfigs' operations (KIP-339), checked once for every kind of resource: SET needs
 * a value, DELETE goes back to the default, APPEND and SUBTRACT apply to list configs only. Topics
 * and the broker have list configs; a share group's have none, so there the two list operations are
 * refused whole, before anything changes.
 */

/** Kafka's AlterConfigOp.OpType codes. */
export const configOp = { set: 0, delete: 1, append: 2, subtract: 3 } as const;

export interface ConfigOperation {
  readonly name: string;
  readonly configOperation: number;
  readonly value: string | null;
}

/** One change asked of a resource's configs: a value to set, or null to go back to the default. */
export interface ConfigChange {
  readonly name: string;
  readonly value: string | null;
}

/** Why `op` cannot apply to its config, in Kafka's words (INVALID_CONFIG); undefined when it can. */
export function operationRefusal(op: ConfigOperation, isList: boolean): string | undefined {
  switch (op.configOperation) {
    case configOp.set:
      return op.value === null ? `Null value not supported for : ${op.name}` : undefined;
    case configOp.delete:
      return undefined;
    case configOp.append:
    case configOp.subtract: {
      const verb = op.configOperation === configOp.append ? 'append' : 'subtract';
      return isList ? undefined : `Config value ${verb} is not allowed for config key: ${op.name}`;
    }
    default:
      return `Unknown config operation ${op.configOperation} for ${op.name}`;
  }
}

/** SET and DELETE as changes, for a resource without list configs; the first refusal otherwise. */
export function scalarChanges(ops: readonly ConfigOperation[]): ConfigChange[] | { refused: string } {
  const changes: ConfigChange[] = [];
  for (const op of ops) {
    const refused = operationRefusal(op, false);
    if (refused !== undefined) return { refused };
    changes.push({ name: op.name, value: op.configOperation === configOp.delete ? null : op.value });
  }
  return changes;
}

/** A list config's items; an empty value is an empty list. */
function itemsOf(value: string | undefined): string[] {
  return value === undefined || value.trim() === '' ? [] : value.split(',').map((item) => item.trim());
}

/** APPEND adds the items not already in `current`, SUBTRACT removes them (KIP-339). */
export function listOperation(current: string | undefined, op: ConfigOperation): string {
  const items = itemsOf(current);
  const given = itemsOf(op.value ?? '');
  const next =
    op.configOperation === configOp.append
      ? [...items, ...given.filter((item) => !items.includes(item))]
      : items.filter((item) => !given.includes(item));
  return next.join(',');
}
