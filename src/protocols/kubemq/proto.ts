/**
 * The KubeMQ service definition, read at run time from `spec/kubemq/kubemq.proto` (copied unchanged
 * from KubeMQ) with field names kept as KubeMQ spells them (`EventID`, `ClientID`). int64 fields come
 * in as decimal strings (a nanosecond timestamp does not fit a double) and may go out as numbers or
 * strings; enums are numbers; absent fields take their proto3 defaults.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import { loadSync, type PackageDefinition } from '@grpc/proto-loader';
import { Encoded } from './sink.js';

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

let service: ServiceDefinition | undefined;
const encoders = new Map<string, (item: unknown) => Encoded>();

/**
 * The service definition, its response serializers taught to pass an `Encoded` item through as it
 * is: a fan-out serializes one message once for all its subscribers' streams.
 */
export function kubemqService(): ServiceDefinition {
  if (service !== undefined) return service;
  const raw = kubemqPackage()[serviceName] as ServiceDefinition;
  const wrapped: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const [name, method] of Object.entries(raw) as Array<[string, MethodDefinition<unknown, unknown>]>) {
    const serialize = method.responseSerialize;
    encoders.set(name, (item) => new Encoded(serialize(item)));
    wrapped[name] = {
      ...method,
      responseSerialize: (value: unknown) =>
        value instanceof Encoded ? (value.wire as Buffer) : serialize(value),
    };
  }
  service = wrapped as ServiceDefinition;
  return service;
}

/** The encoder of method `name`'s responses, one function shared by all its streams. */
export function responseEncoder<T>(name: string): (item: T) => Encoded {
  kubemqService();
  const encode = encoders.get(name);
  if (encode === undefined) throw new Error(`kubemq.proto has no RPC ${name}`);
  return encode;
}

/** The descriptor of message `name` (without the `kubemq.` package). */
export function messageType(name: string): MessageDescriptor {
  const entry = kubemqPackage()[`kubemq.${name}`] as { type?: MessageDescriptor } | undefined;
  if (entry?.type === undefined) throw new Error(`kubemq.proto has no message ${name}`);
  return entry.type;
}
