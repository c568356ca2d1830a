/**
 * The KubeMQ service definition, read at run time from `spec/kubemq/kubemq.proto` (copied unchanged
 * from KubeMQ) with field names kept as KubeMQ spells them (`EventID`, `ClientID`). int64 fields come
 * in as decimal strings (a nanosecond timestamp does not fit a double) and may go out as numbers or
 * strings; enums are numbers; absent fields take their proto3 defaults.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ServiceDefinition } from '@grpc/grpc-js';
import { loadSync, type PackageDefinition } from '@grpc/proto-loader';

export const serviceName = 'kubemq.kubemq';

/** Message types as proto-loader describes them (a DescriptorProto in JSON form). */
export interface FieldDescriptor {
  readonly name: string;
  readonly label: string;
  readonly type: string;
  readonly typeName: string;
}
export interface MessageDescriptor {
  readonly name: string;
  readonly field: readonly FieldDescriptor[];
  readonly nestedType: readonly MessageDescriptor[];
  readonly options: { readonly mapEntry?: boolean } | null;
}

/** From dist/src/protocols/kubemq (built) or src/protocols/kubemq (sources): the package root is 4 or 3 up. */
function protoPath(): string {
  for (const up of ['../../../../', '../../../']) {
    const path = fileURLToPath(new URL(`${up}spec/kubemq/kubemq.proto`, import.meta.url));
    if (existsSync(path)) return path;
  }
  throw new Error('spec/kubemq/kubemq.proto is missing from the package');
}

let loaded: PackageDefinition | undefined;

export function kubemqPackage(): PackageDefinition {
  loaded ??= loadSync(protoPath(), {
    keepCase: true,
    longs: String,
    enums: Number,
    defaults: true,
    arrays: true,
    objects: true,
  });
  return loaded;
}

export function kubemqService(): ServiceDefinition {
  return kubemqPackage()[serviceName] as ServiceDefinition;
}

/** The descriptor of message `name` (without the `kubemq.` package). */
export function messageType(name: string): MessageDescriptor {
  const entry = kubemqPackage()[`kubemq.${name}`] as { type?: MessageDescriptor } | undefined;
  if (entry?.type === undefined) throw new Error(`kubemq.proto has no message ${name}`);
  return entry.type;
}
