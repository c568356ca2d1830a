/**
 * `switchyard start`: run the broker in the foreground until SIGTERM or SIGINT. The ready line is the
 * only thing written to stdout; logs go to stderr. A second signal, or a shutdown that outlasts
 * `shutdownTimeoutMs`, exits at once. SIGHUP re-reads the TLS certificate, key and CA files and the
 * JWT keys (jwtKeys, jwtJwksFile).
 */
import { loadConfig } from '../config/load.js';
import { ConfigError } from '../config/parse.js';
import { systemClock } from '../shared/clock.js';
import { installEscapeGuard } from '../shared/escapes.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { Broker } from './broker.js';
import { IdleHeapWatch, releaseYoungGeneration } from './idle-heap.js';

export const exitCode = { ok: 0, failed: 1, usage: 2 } as const;

export interface ForegroundInput {
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
}

function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      resolve(signal);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

/** A reload that fails (a file gone, a key that does not match) keeps serving what was loaded before. */
function reloadTls(broker: Broker, logger: Logger): void {
  broker
    .reloadTls()
    .catch((err: unknown) => logger.error({ err }, 'tls reload failed; the old certificate stays'));
}

/** Resolves with the exit code; the caller exits with it. */
export async function runForeground(input: ForegroundInput): Promise<number> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(input);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`switchyard: ${err.message}\n`);
    return exitCode.usage;
  }
  const logger = createLogger({ level: config.logLevel });
  installEscapeGuard(logger);
  const signalled = waitForSignal();
  let broker: Broker | undefined;
  // From the first moment to the last: SIGHUP's default would end the process, during start and stop too.
  const reload = () => {
    if (broker === undefined) return;
    reloadTls(broker, logger);
    broker
      .reloadJwtKeys()
      .catch((err: unknown) => logger.error({ err }, 'jwt key reload failed; the old keys stay'));
  };
  process.on('SIGHUP', reload);
  try {
    broker = await Broker.start({ ...config, logger });
  } catch (err) {
    logger.fatal({ err }, 'start failed');
    process.stderr.write(`switchyard: cannot start: ${(err as Error).message}\n`);
    return exitCode.failed;
  }
  process.stdout.write(`${broker.readyLine()}\n`);
  const young = releaseYoungGeneration();
  const idleHeap = new IdleHeapWatch(systemClock, logger);
  const signal = await signalled;
  idleHeap.stop();
  young.stop();
  logger.info({ signal }, 'shutting down');
  const force = (reason: string) => {
    logger.error(reason);
    process.exit(exitCode.failed);
  };
  process.once('SIGTERM', () => force('second signal; exiting without finishing shutdown'));
  process.once('SIGINT', () => force('second signal; exiting without finishing shutdown'));
  const timer = setTimeout(() => force('shutdown timed out'), config.shutdownTimeoutMs);
  timer.unref();
  try {
    await broker.stop();
  } catch (err) {
    logger.error({ err }, 'shutdown failed');
    return exitCode.failed;
  } finally {
    clearTimeout(timer);
  }
  return exitCode.ok;
}
