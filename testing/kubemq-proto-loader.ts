/**
 * kubemq.proto as @grpc/proto-loader builds it (protobufjs, with the options the broker's own codec
 * mirrors). Tests use it as an independent codec: the raw test client speaks through it, and
 * test/kubemq-codec/protobuf.test.ts compares the broker's codec (src/protocols/kubemq/protobuf.ts)
 * with it. The broker itself no longer loads it.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadSync, type PackageDefinition } from '@grpc/proto-loader';

let loaded: PackageDefinition | undefined;

/** The build output lives at different depths (dist/testing, .tmp/<area>/testing): look upwards. */
function protoPath(): string {
  for (let up = '../'; up.length <= 15; up += '../') {
    const path = fileURLToPath(new URL(`${up}spec/kubemq/kubemq.proto`, import.meta.url));
    if (existsSync(path)) return path;
  }
  throw new Error('spec/kubemq/kubemq.proto not found above testing/');
}

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
