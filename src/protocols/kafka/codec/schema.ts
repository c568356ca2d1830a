/**
 * The shape of the tables that scripts/gen-kafka.mjs emits from spec/kafka/messages. Field names are
 * already camelCase; version ranges are inclusive pairs, with `versionMax` standing for "N+".
 * A range that is "none" in the JSON is simply absent here.
 */
export const versionMax = 0x7fff;

export type VersionRange = readonly [number, number];

export type FieldType =
  | 'bool'
  | 'int8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'int64'
  | 'float64'
  | 'uuid'
  | 'string'
  | 'bytes'
  | 'records'
  | 'struct';

export type DefaultValue = number | bigint | boolean | string | null;

export interface FieldSchema {
  readonly name: string;
  readonly type: FieldType;
  /** The field is an array of `type` (`[]int32`, `[]SomeStruct`). */
  readonly array?: true;
  readonly versions: VersionRange;
  readonly nullableVersions?: VersionRange;
  readonly tag?: number;
  readonly taggedVersions?: VersionRange;
  /** Field-level override of the message's flexible versions (RequestHeader.ClientId uses "none"). */
  readonly flexibleVersions?: VersionRange | null;
  /** A non-default value may be dropped silently at versions without the field. */
  readonly ignorable?: true;
  /** The schema's explicit default; otherwise 0, '', false, empty, zero UUID. */
  readonly default?: DefaultValue;
  readonly fields?: readonly FieldSchema[];
}

export interface MessageSchema {
  readonly name: string;
  readonly apiKey: number;
  readonly validVersions: VersionRange;
  readonly flexibleVersions: VersionRange | null;
  readonly fields: readonly FieldSchema[];
}

/** A tagged field whose tag this codec does not know; kept so that re-encoding preserves it. */
export interface UnknownTaggedField {
  readonly tag: number;
  readonly data: Uint8Array;
}

/** Every decoded struct may carry the tagged fields it did not recognise under this key. */
export interface TaggedFieldsCarrier {
  unknownTaggedFields?: UnknownTaggedField[];
}

/**
 * What an encoder accepts: any field may be left out and then takes its schema default, as in
 * Kafka's own generated message classes.
 */
export type KafkaInput<T> = T extends Uint8Array | bigint | string | number | boolean | null
  ? T
  : T extends readonly (infer E)[]
    ? readonly KafkaInput<E>[]
    : { [K in keyof T]?: KafkaInput<T[K]> };

export function inRange(range: VersionRange | undefined | null, version: number): boolean {
  return range !== undefined && range !== null && version >= range[0] && version <= range[1];
}

/** One Kafka API as the schemas describe it; the generated index lists every API the codec knows. */
export interface KafkaApiInfo {
  readonly name: string;
  readonly apiKey: number;
  readonly validVersions: VersionRange;
  /** Versions Kafka 4.0 removes (KIP-896); kept here because older clients still send them. */
  readonly deprecatedVersions: VersionRange | null;
  /** The top valid version is still under development upstream and should not be advertised. */
  readonly latestVersionUnstable: boolean;
  readonly request: MessageSchema;
  readonly response: MessageSchema;
}
