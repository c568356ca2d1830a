/**
 * The composition root: config → storage → core → listeners, and back down on stop. The CLI and
 * embedders use this same class, so `switchyard start` and `Broker.start()` cannot drift apart.
 */
import { resolveConfig } from '../config/load.js';
import { packageInfo } from '../config/package.js';
import { type Config, type PortSetting, portSecurity, portsInForce } from '../config/schema.js';
import type { CoreBroker, CoreClient, CoreLimits } from '../core/api.js';
import { BrokerCore } from '../core/broker.js';
import { internalContext } from '../core/entry/context.js';
import { AddressGate, type AddressGateStats } from '../protocols/address-gate.js';
import { IngressBudget, type IngressStats } from '../protocols/ingress.js';
import type {
  BoundListener,
  ListenerContext,
  ListenerDefinition,
  RunningListener,
} from '../protocols/listener.js';
import { listenerNames } from '../protocols/listener.js';
import { settleStoredMarker } from '../protocols/mqtt/model.js';
import type { ReloadableTls } from '../protocols/tls.js';
import type { Transport } from '../protocols/transport.js';
import type { Clock } from '../shared/clock.js';
import { createLogger, type Logger } from '../shared/logger.js';
import type { FileIo } from '../storage/file/io.js';
import type { Storage } from '../storage/types.js';
import { AlarmMonitor, monitorOptionsOf } from './alarms.js';
import { createAuthenticator, hashingPoolOf, type LoginGate, type LoginStats } from './auth.js';
import { InProcessConnections, type InProcessProtocol } from './in-process.js';
import { JwtValidator } from './jwt.js';
import { jwtConfigured, loadJwtKeys } from './jwt-keys.js';
import { builtListeners } from './listeners.js';
import type { ScryptPool } from './scrypt-pool.js';
import { openStorage } from './storage.js';
import { loadTls, readTlsMaterial } from './tls.js';
import { applyDefaultUser, warnDefaultPassword } from './users.js';

export type BrokerOptions = Partial<Config> & {
  /** Replaces the registry of built listeners (tests, embedders that bring their own). */
  listeners?: readonly ListenerDefinition[];
  /** Replaces the stderr logger built from `logLevel`. */
  logger?: Logger;
  /** Replaces file storage's write calls (tests inject disk failures with it). */
  storageIo?: FileIo;
  /**
   * Time for core and every protocol timer (heartbeats, keep-alives, handshake and idle timeouts);
   * tests pass a ManualClock. The system clock by default.
   */
  clock?: Clock;
};

export type BrokerPorts = Readonly<Partial<Record<PortSetting, number>>>;

interface Started {
  readonly name: string;
  readonly configKey: PortSetting;
  readonly running: RunningListener;
  readonly tls: boolean;
}

interface Parts {
  readonly config: Readonly<Config>;
  readonly logger: Logger;
  readonly storage: Storage;
  readonly core: CoreBroker;
  readonly auth: LoginGate;
  readonly ingress: IngressBudget;
  /** The per-address cap every TCP listener counts its sockets in (`connectionsPerAddressMax`). */
  readonly addresses: AddressGate;
  /** Undefined without a certificate: then only plain listeners start. */
  readonly tls: ReloadableTls | undefined;
  /** Undefined without JWT keys: then token logins are refused. */
  readonly jwt: JwtValidator | undefined;
  readonly started: Started[];
  readonly monitor: AlarmMonitor;
}

function coreLimits(config: Readonly<Config>): CoreLimits {
  const { queuesMax, exchangesMax, bindingsMax, bodyCacheBytesMax, messageBytesMax, streamPartitionsMax } =
    config;
  const { loginCacheTtlMs, loginCacheEntriesMax, producerIdsMax, transactionalIdsMax } = config;
  const { offsetsRetentionMinutes, retainedBytesMax } = config;
  return {
    queuesMax,
    exchangesMax,
    bindingsMax,
    bodyCacheBytesMax,
    messageBytesMax,
    streamPartitionsMax,
    producerIdsMax,
    transactionalIdsMax,
    offsetsRetentionMinutes,
    loginCacheTtlMs,
    loginCacheEntriesMax,
    retainedBytesMax,
  };
}

function listenerContext(
  parts: Parts,
  key: PortSetting,
  logger: Logger,
  startedAtMs: number,
): ListenerContext {
  const { config, core, auth, ingress } = parts;
  const port = config[key];
  const name = listenerNames[key];
  return {
    host: config.host,
    port: port === 'auto' ? 0 : port,
    tls: portSecurity[key] === 'plain' ? undefined : parts.tls,
    core,
    config,
    logger,
    auth,
    ingress,
    addressGate: parts.addresses.forListener(name),
    version: packageInfo().version,
    startedAtMs,
    boundListeners: (): BoundListener[] =>
      parts.started.map((s) => ({ name: s.name, host: config.host, port: s.running.port, tls: s.tls })),
  };
}

async function startListeners(parts: Parts, definitions: readonly ListenerDefinition[]): Promise<void> {
  const startedAtMs = Date.now();
  for (const key of portsInForce(parts.config)) {
    const name = listenerNames[key];
    const definition = definitions.find((d) => d.configKey === key);
    if (definition === undefined) {
      parts.logger.info({ listener: name }, `${name} listener not built yet; skipped`);
      continue;
    }
    const logger = parts.logger.child({ listener: definition.name });
    const context = listenerContext(parts, key, logger, startedAtMs);
    const running = await definition.start(context);
    const tls = context.tls !== undefined;
    parts.started.push({ name: definition.name, configKey: key, running, tls });
    logger.info({ host: parts.config.host, port: running.port, tls }, `${definition.name} listening`);
  }
}

/** What `Broker.start` has opened so far; `stop` closes the same parts. */
interface Opened {
  logger: Logger;
  started: Started[];
  storage?: Storage;
  core?: CoreBroker;
  auth?: LoginGate;
  hashing?: ScryptPool;
  monitor?: AlarmMonitor;
}

/** Closes whatever is open, last opened first; logs and carries on past failures so every part closes. */
async function closeParts(parts: Opened): Promise<void> {
  parts.monitor?.stop();
  const { core, storage, auth } = parts;
  const steps = parts.started.map((s): [string, () => Promise<void>] => [s.name, () => s.running.close()]);
  steps.reverse();
  if (auth) steps.push(['logins', () => auth.close()]);
  const { hashing } = parts;
  if (hashing) steps.push(['password hashing', () => hashing.close()]);
  if (core) steps.push(['core', () => core.close()]);
  if (storage) steps.push(['storage', () => storage.close()]);
  let firstError: unknown;
  for (const [what, close] of steps) {
    try {
      await close();
    } catch (err) {
      parts.logger.error({ err, part: what }, `closing ${what} failed`);
      firstError ??= err;
    }
  }
  if (firstError !== undefined) throw firstError;
}

export class Broker {
  readonly config: Readonly<Config>;
  readonly core: CoreBroker;
  readonly logger: Logger;
  private readonly parts: Parts;
  private stopping: Promise<void> | undefined;
  private inProcess: InProcessConnections | undefined;
  private embedded = 0;

  private constructor(parts: Parts) {
    this.parts = parts;
    this.config = parts.config;
    this.core = parts.core;
    this.logger = parts.logger;
  }

  /** Starts storage, core and every configured listener; on any failure closes what it opened and throws. */
  static async start(options: BrokerOptions = {}): Promise<Broker> {
    const { listeners = builtListeners, logger: givenLogger, storageIo, clock, ...settings } = options;
    const config = resolveConfig(settings);
    const logger = givenLogger ?? createLogger({ level: config.logLevel });
    const where = config.storage === 'file' ? { dataDir: config.dataDir, fsync: config.fsync } : {};
    logger.info({ version: packageInfo().version, storage: config.storage, ...where }, 'starting');
    const opened: Opened = { logger, started: [] };
    try {
      // Before anything is opened: a certificate that cannot be served, or a token key that cannot be
      // read, stops the start at once.
      const tls = loadTls(config);
      const jwtKeys = jwtConfigured(config) ? loadJwtKeys(config) : undefined;
      const storage = await openStorage(config, storageIo);
      opened.storage = storage;
      // Every password is hashed in the pool's processes, the default user's at start included.
      const hashing = hashingPoolOf(config);
      opened.hashing = hashing;
      // Before core opens: its start reads the producers of stored Kafka batches (the transactions'
      // scan for batches whose entry a crash took, aborted ranges from a producer's first batch), and
      // the Kafka listener, which otherwise brings this format, loads only after core is open.
      await import('../protocols/kafka/entry-format.js');
      const core = await BrokerCore.open({
        storage,
        limits: coreLimits(config),
        logger,
        passwordDerive: (job, signal) => hashing.hash(job, { signal }),
        // MQTT's stored QoS 2 markers name messages by offset: settled at start (src/core/sessions.ts).
        settleStoredMarker,
        ...(clock === undefined ? {} : { clock }),
      });
      opened.core = core;
      await applyDefaultUser(core, config);
      await warnDefaultPassword(core, config, logger);
      const monitor = await AlarmMonitor.start(monitorOptionsOf(config, core.alarms, logger, storage.writes));
      opened.monitor = monitor;
      const jwt =
        jwtKeys === undefined ? undefined : new JwtValidator(config, jwtKeys, () => core.clock.now());
      const auth = createAuthenticator({ ...config, jwt, hashing }, core, logger.child({ part: 'logins' }));
      opened.auth = auth;
      const ingress = new IngressBudget({
        bytesMax: config.ingressBytesMax,
        unauthenticatedBytesMax: config.ingressUnauthenticatedBytesMax,
      });
      const parts: Parts = {
        config,
        logger,
        storage,
        core,
        auth,
        ingress,
        addresses: new AddressGate(config.connectionsPerAddressMax, logger.child({ part: 'connections' })),
        tls,
        jwt,
        started: opened.started,
        monitor,
      };
      await startListeners(parts, listeners);
      return new Broker(parts);
    } catch (err) {
      await closeParts(opened).catch(() => {});
      throw err;
    }
  }

  /**
   * A way into core for the embedding process itself (no socket, no login): it acts with core's
   * internal principal in `vhost`. Each call gives a new connection id, so exclusive queues declared
   * through one client belong to it alone, and `closeConnection()` releases what it held.
   */
  client(vhost = '/'): CoreClient {
    return this.core.connect(internalContext(vhost, `embed-${++this.embedded}`));
  }

  /**
   * A connection of `protocol` over `transport` without a socket or a listener: the session is the
   * one a listener would make (the same settings, login and limits), its peer whatever is at the
   * transport's other end (testing/transport-pair.ts in tests). Closed with the broker. Resolves once
   * the session has the transport: the protocol's modules load with its first connection, and bytes
   * written meanwhile wait in the transport.
   */
  accept(protocol: InProcessProtocol, transport: Transport): Promise<void> {
    this.inProcess ??= new InProcessConnections((key) =>
      listenerContext(this.parts, key, this.logger.child({ listener: `${protocol}-in-process` }), Date.now()),
    );
    return this.inProcess.accept(protocol, transport);
  }

  /** The login gate: hashing processes started, hashes run, logins hashing and queued, throttled addresses. */
  loginStats(): LoginStats {
    return this.parts.auth.stats();
  }

  /** The ingress budget: bytes held by connections, connections paused, evictions. */
  ingressStats(): IngressStats {
    return this.parts.ingress.stats();
  }

  /** The per-address cap of the TCP listeners: sockets counted, addresses, refusals per listener. */
  addressStats(): AddressGateStats {
    return this.parts.addresses.stats();
  }

  /** TCP sockets counted against `address`'s cap now. */
  connectionsFrom(address: string): number {
    return this.parts.addresses.connectionsFrom(address);
  }

  /**
   * Reads the certificate, key and CA files again and serves them to new connections on every TLS
   * listener; open connections keep theirs. Rejects, serving the old ones still, when a file cannot
   * be read or the key does not match. Resolves at once on a broker without TLS.
   */
  async reloadTls(): Promise<void> {
    const { tls, config } = this.parts;
    if (tls === undefined) return;
    const material = readTlsMaterial(config);
    if (material === undefined) return;
    tls.replace(material);
    this.logger.info({ certificate: config.tlsCertFile }, 'tls certificate reloaded');
  }

  /**
   * Reads the token keys (jwtKeys, jwtJwksFile) again; tokens verify against the new set from now on.
   * Rejects, keeping the old keys, when a file cannot be read or a key cannot be used. Resolves at once
   * on a broker without JWT logins.
   */
  async reloadJwtKeys(): Promise<void> {
    const { jwt, config } = this.parts;
    if (jwt === undefined) return;
    const keys = loadJwtKeys(config);
    jwt.replaceKeys(keys);
    this.logger.info({ keys: keys.size }, 'jwt keys reloaded');
  }

  /** Actual bound ports of the running listeners, keyed by their port setting (`httpPort`). */
  get ports(): BrokerPorts {
    return Object.fromEntries(this.parts.started.map((s) => [s.configKey, s.running.port]));
  }

  /** `switchyard ready amqp=5672 http=15672`: the one line the CLI prints to stdout. */
  readyLine(): string {
    const bound = this.parts.started.map((s) => `${s.name}=${s.running.port}`);
    return ['switchyard ready', ...bound].join(' ');
  }

  /** Stop accepting, close listeners, close core (flushes), close storage. Safe to call twice. */
  stop(): Promise<void> {
    this.stopping ??= (this.inProcess?.close() ?? Promise.resolve())
      .then(() => closeParts(this.parts))
      .then(() => this.logger.info('stopped'));
    return this.stopping;
  }
}
