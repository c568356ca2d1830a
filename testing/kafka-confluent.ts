/**
 * `@confluentinc/kafka-javascript` (librdkafka 2.15 bundled), an optional dependency: it builds from
 * source with `CKJS_LINKING=dynamic` and the system's libssl/zlib/zstd/lz4/sasl/curl (.ci/run), and a
 * machine without that toolchain installs without it. Typed here by the few calls the tests make, so
 * the project compiles whether or not the package is present.
 */

export interface CkjsMessage {
  readonly offset: string;
  readonly value: Buffer | null;
}

export interface CkjsConsumer {
  connect(): Promise<void>;
  subscribe(subscription: { topics: Array<string | RegExp> }): Promise<void>;
  run(config: {
    eachMessage: (payload: { topic: string; partition: number; message: CkjsMessage }) => Promise<void>;
  }): Promise<void>;
  commitOffsets(offsets: Array<{ topic: string; partition: number; offset: string }>): Promise<void>;
  assignment(): Array<{ topic: string; partition: number }>;
  disconnect(): Promise<void>;
}

export interface CkjsKafka {
  consumer(config: Record<string, unknown>): CkjsConsumer;
}

interface CkjsModule {
  readonly librdkafkaVersion: string;
  readonly KafkaJS: { Kafka: new (config: Record<string, unknown>) => CkjsKafka };
}

const packageName = '@confluentinc/kafka-javascript';

/** The module, or why it is missing (the reason a test skips with). */
export async function loadConfluentJs(): Promise<CkjsModule | string> {
  try {
    // A variable name keeps tsc from resolving a package that may not be installed.
    const mod = (await import(packageName)) as { default?: CkjsModule } & CkjsModule;
    return mod.default ?? mod;
  } catch (err) {
    return `${packageName} is not installed (CKJS_LINKING=dynamic npm install, see .ci/run): ${String(err).split('\n')[0]}`;
  }
}

/** A client of the KafkaJS-shaped API of the package, quiet, bounded retries. */
export function confluentJsClient(mod: CkjsModule, bootstrap: string): CkjsKafka {
  return new mod.KafkaJS.Kafka({
    'bootstrap.servers': bootstrap,
    'client.id': 'conformance-ckjs',
    log_level: 0,
  });
}
