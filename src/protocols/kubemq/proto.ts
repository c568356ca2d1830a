/**
 * The KubeMQ service definition for grpc-js, from the schema table generated from
 * `spec/kubemq/kubemq.proto` (copied unchanged from KubeMQ; scripts/gen-kubemq.mjs) and the codec of
 * protobuf.ts, with field names kept as KubeMQ spells them (`EventID`, `ClientID`). int64 fields come
 * in as decimal strings (a nanosecond timestamp does not fit a double) and may go out as numbers or
 * strings; enums are numbers; absent fields take their proto3 defaults.
 */
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import { enums, messages, methods, serviceName } from './generated/schema.js';
import {
  decodeMessage,
  encodeMessage,
  type ProtoField,
  type ProtoMessage,
  type ProtoSchema,
} from './protobuf.js';
import { Encoded } from './sink.js';

export type { ProtoField, ProtoMessage };
export { serviceName };

export const kubemqSchema: ProtoSchema = { messages, enums };

let service: ServiceDefinition | undefined;
const encoders = new Map<string, (item: unknown) => Encoded>();

/** grpc-js's name for an RPC's method on a generated client (`SendEvent` → `sendEvent`). */
function lowerFirst(name: string): string {
  return name.charAt(0).toLowerCase() + name.slice(1);
}

/**
 * The service definition. Its response serializers pass an `Encoded` item through as it is: a
 * fan-out serializes one message once for all its subscribers' streams.
 */
export function kubemqService(): ServiceDefinition {
  if (service !== undefined) return service;
  const definition: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const method of methods) {
    const serialize = (value: unknown): Buffer => encodeMessage(kubemqSchema, method.response, value);
    encoders.set(method.name, (item) => new Encoded(serialize(item)));
    definition[method.name] = {
      path: `/${serviceName}/${method.name}`,
      requestStream: method.requestStream,
      responseStream: method.responseStream,
      requestSerialize: (value: unknown) => encodeMessage(kubemqSchema, method.request, value),
      requestDeserialize: (bytes: Buffer) => decodeMessage(kubemqSchema, method.request, bytes),
      responseSerialize: (value: unknown) =>
        value instanceof Encoded ? (value.wire as Buffer) : serialize(value),
      responseDeserialize: (bytes: Buffer) => decodeMessage(kubemqSchema, method.response, bytes),
      originalName: lowerFirst(method.name),
    };
  }
  service = definition as ServiceDefinition;
  return service;
}

/** The encoder of method `name`'s responses, one function shared by all its streams. */
export function responseEncoder<T>(name: string): (item: T) => Encoded {
  kubemqService();
  const encode = encoders.get(name);
  if (encode === undefined) throw new Error(`kubemq.proto has no RPC ${name}`);
  return encode;
}

/** The schema of message `name` (without the `kubemq.` package). */
export function messageType(name: string): ProtoMessage {
  const message = messages[name];
  if (message === undefined) throw new Error(`kubemq.proto has no message ${name}`);
  return message;
}
