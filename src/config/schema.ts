/**
 * The one configuration schema. Every setting is listed once here with its type, default, bounds and
 * description; the loader (./load.ts), the `--help` text and docs/config.md are all derived from it.
 * Flag and environment names are derived from the setting name (`amqpPort` → `--amqp-port`,
 * `SWITCHYARD_AMQP_PORT`) so they can never drift apart.
 */
import { coreLimitsDefault } from '../core/limits.js';
import type { LogLevel } from '../shared/logger.js';
import { openFilesMaxRange, storageLimitsDefault } from '../storage/types.js';

export type { LogLevel };

/** A TCP port; 0 turns the listener off and `auto` lets the OS pick a free port. */
export type Port = number | 'auto';

export const storageKinds = ['file', 'memory'] as const;
export type StorageKind = (typeof storageKinds)[number];

export const mqttAuthentications = ['optional', 'required', 'off'] as const;
export type MqttAuthentication = (typeof mqttAuthentications)[number];

export const kafkaSaslModes = ['auto', 'required', 'off'] as const;
export type KafkaSaslMode = (typeof kafkaSaslModes)[number];

export const tlsClientAuths = ['none', 'request', 'require'] as const;
export type TlsClientAuth = (typeof tlsClientAuths)[number];

export const tlsMinVersions = ['TLSv1.2', 'TLSv1.3'] as const;
export type TlsMinVersion = (typeof tlsMinVersions)[number];

export const certLoginSources = ['common_name', 'distinguished_name', 'subject_alternative_name'] as const;
export type CertLoginSource = (typeof certLoginSources)[number];

export const certLoginSanTypes = ['dns', 'email', 'uri', 'ip'] as const;
export type CertLoginSanType = (typeof certLoginSanTypes)[number];

export const mqttCertLogins = ['off', 'username', 'certificate'] as const;
export type MqttCertLogin = (typeof mqttCertLogins)[number];

/** The SASL mechanisms an AMQP 0-9-1 listener can offer in connection.start. */
export const amqpMechanisms = ['PLAIN', 'AMQPLAIN', 'EXTERNAL'] as const;
export type AmqpMechanism = (typeof amqpMechanisms)[number];

/** JWS algorithms a bearer token may be signed with (RFC 7518 §3.1); `none` is never one of them. */
export const jwtAlgorithmNames = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'HS256',
  'HS384',
  'HS512',
] as const;
export type JwtAlgorithmName = (typeof jwtAlgorithmNames)[number];

export const fsyncKinds = ['always', 'interval', 'never'] as const;
export type FsyncKind = (typeof fsyncKinds)[number];

export const logLevels = [
  'fatal',
  'error',
  'warn',
  'info',
  'debug',
  'trace',
  'silent',
] as const satisfies readonly LogLevel[];

export interface Config {
  host: string;
  amqpPort: Port;
  amqpsPort: Port;
  mqttPort: Port;
  mqttsPort: Port;
  mqttWsPort: Port;
  mqttWssPort: Port;
  kafkaPort: Port;
  kafkaTlsPort: Port;
  grpcPort: Port;
  restPort: Port;
  httpPort: Port;
  httpsPort: Port;
  tlsCertFile: string;
  tlsKeyFile: string;
  tlsCaFile: string;
  tlsClientAuth: TlsClientAuth;
  tlsMinVersion: TlsMinVersion;
  tlsCiphers: string;
  certLoginFrom: CertLoginSource;
  certLoginSanType: CertLoginSanType;
  certLoginSanIndex: number;
  jwtKeys: string[];
  jwtJwksFile: string;
  jwtDefaultKey: string;
  jwtAlgorithms: string[];
  jwtResourceServerId: string;
  jwtAudience: string;
  jwtIssuer: string;
  jwtUsernameClaims: string[];
  jwtLeewaySeconds: number;
  jwtTokenBytesMax: number;
  dataDir: string;
  storage: StorageKind;
  fsync: FsyncKind;
  fsyncIntervalMs: number;
  storageOpenFilesMax: number;
  compactionIoBytesPerSecondMax: number;
  storageSyncMoments: boolean;
  logLevel: LogLevel;
  queuesMax: number;
  exchangesMax: number;
  bindingsMax: number;
  bodyCacheBytesMax: number;
  messageBytesMax: number;
  streamPartitionsMax: number;
  retainedBytesMax: number;
  producerIdsMax: number;
  transactionalIdsMax: number;
  offsetsRetentionMinutes: number;
  segmentBytesMax: number;
  entryBytesMax: number;
  memoryHighWatermarkPercent: number;
  memoryHighWatermarkBytes: number;
  diskFreeBytesMin: number;
  defaultUser: string;
  defaultPass: string;
  loopbackOnlyUsers: string[];
  anonymousUser: string;
  amqpAuthMechanisms: string[];
  metricsOpen: boolean;
  metricsSeriesMax: number;
  passwordHashThreads: number;
  loginQueueMax: number;
  loginPendingPerAddressMax: number;
  loginFailuresBeforeDelay: number;
  loginFailureDelayMs: number;
  loginFailureDelayMsMax: number;
  loginFailureWindowMs: number;
  loginFailureAddressesMax: number;
  loginCacheTtlMs: number;
  loginCacheEntriesMax: number;
  ingressBytesMax: number;
  ingressUnauthenticatedBytesMax: number;
  handshakeBytesMax: number;
  handshakeTimeoutMs: number;
  httpHeadersTimeoutMs: number;
  httpIdleTimeoutMs: number;
  httpConnectionsMax: number;
  httpConnectionsPerAddressMax: number;
  webConnectionsPerAddressMax: number;
  connectionsPerAddressMax: number;
  shutdownTimeoutMs: number;
  mqttConnectionsMax: number;
  mqttPacketBytesMax: number;
  mqttInflightMax: number;
  mqttQueuedMessagesMax: number;
  mqttQueuedBytesMax: number;
  mqttTopicLevelsMax: number;
  mqttTopicBytesMax: number;
  mqttKeepAliveSecondsMax: number;
  mqttDeniedFilters: string[];
  mqttAuthentication: MqttAuthentication;
  mqttCertLogin: MqttCertLogin;
  kafkaAutoCreateTopics: boolean;
  kafkaDefaultPartitions: number;
  kafkaReplicationFactorMax: number;
  kafkaGroupInitialRebalanceDelayMs: number;
  kafkaIdleTimeoutMs: number;
  kafkaFetchBytesMax: number;
  kafkaRequestEntriesMax: number;
  kafkaSasl: KafkaSaslMode;
  kafkaSaslSessionLifetimeMs: number;
  kafkaVhost: string;
}

export type SettingName = keyof Config;

/** The settings that name a listener's port, in the order listeners start. */
export const portSettings = [
  'amqpPort',
  'amqpsPort',
  'mqttPort',
  'mqttsPort',
  'mqttWsPort',
  'mqttWssPort',
  'kafkaPort',
  'kafkaTlsPort',
  'grpcPort',
  'restPort',
  'httpPort',
  'httpsPort',
] as const satisfies readonly SettingName[];
export type PortSetting = (typeof portSettings)[number];

/**
 * Whether each port speaks TLS: `plain` never; `tls` always, and is off until tlsCertFile is set;
 * `either` speaks TLS once tlsCertFile is set and plaintext until then (the KubeMQ ports, as KubeMQ
 * itself does). No port ever accepts both.
 */
export const portSecurity: Readonly<Record<PortSetting, 'plain' | 'tls' | 'either'>> = {
  amqpPort: 'plain',
  amqpsPort: 'tls',
  mqttPort: 'plain',
  mqttsPort: 'tls',
  mqttWsPort: 'plain',
  mqttWssPort: 'tls',
  kafkaPort: 'plain',
  kafkaTlsPort: 'tls',
  grpcPort: 'either',
  restPort: 'either',
  httpPort: 'plain',
  httpsPort: 'tls',
};

/** The port settings whose listeners start under `config`: TLS-only ones need a certificate. */
export function portsInForce(config: Readonly<Config>): PortSetting[] {
  return portSettings.filter(
    (key) => config[key] !== 0 && (portSecurity[key] !== 'tls' || config.tlsCertFile !== ''),
  );
}

const mebibyte = 1024 * 1024;
const gibibyte = 1024 * mebibyte;

export const configDefault: Config = {
  host: '127.0.0.1',
  amqpPort: 5672,
  amqpsPort: 5671,
  mqttPort: 1883,
  mqttsPort: 8883,
  mqttWsPort: 8083,
  mqttWssPort: 8084,
  kafkaPort: 9092,
  kafkaTlsPort: 9093,
  grpcPort: 50000,
  restPort: 9090,
  httpPort: 15672,
  httpsPort: 15671,
  tlsCertFile: '',
  tlsKeyFile: '',
  tlsCaFile: '',
  tlsClientAuth: 'none',
  tlsMinVersion: 'TLSv1.2',
  tlsCiphers: '',
  certLoginFrom: 'common_name',
  certLoginSanType: 'dns',
  certLoginSanIndex: 0,
  jwtKeys: [],
  jwtJwksFile: '',
  jwtDefaultKey: '',
  jwtAlgorithms: [...jwtAlgorithmNames],
  jwtResourceServerId: 'switchyard',
  jwtAudience: '',
  jwtIssuer: '',
  jwtUsernameClaims: ['sub'],
  jwtLeewaySeconds: 30,
  jwtTokenBytesMax: 16 * 1024,
  dataDir: './switchyard-data',
  storage: 'file',
  fsync: 'always',
  fsyncIntervalMs: 200,
  storageOpenFilesMax: storageLimitsDefault.openFilesMax,
  compactionIoBytesPerSecondMax: storageLimitsDefault.compactionIoBytesPerSecondMax,
  storageSyncMoments: true,
  logLevel: 'info',
  queuesMax: coreLimitsDefault.queuesMax,
  exchangesMax: coreLimitsDefault.exchangesMax,
  bindingsMax: coreLimitsDefault.bindingsMax,
  bodyCacheBytesMax: coreLimitsDefault.bodyCacheBytesMax,
  messageBytesMax: coreLimitsDefault.messageBytesMax,
  streamPartitionsMax: coreLimitsDefault.streamPartitionsMax,
  retainedBytesMax: coreLimitsDefault.retainedBytesMax,
  producerIdsMax: coreLimitsDefault.producerIdsMax,
  transactionalIdsMax: coreLimitsDefault.transactionalIdsMax,
  offsetsRetentionMinutes: coreLimitsDefault.offsetsRetentionMinutes,
  segmentBytesMax: storageLimitsDefault.segmentBytesMax,
  entryBytesMax: storageLimitsDefault.entryBytesMax,
  memoryHighWatermarkPercent: 40,
  memoryHighWatermarkBytes: 0,
  diskFreeBytesMin: 50_000_000,
  defaultUser: 'guest',
  defaultPass: 'guest',
  loopbackOnlyUsers: ['guest'],
  anonymousUser: '',
  amqpAuthMechanisms: [...amqpMechanisms],
  metricsOpen: false,
  metricsSeriesMax: 50_000,
  passwordHashThreads: 0,
  loginQueueMax: 128,
  loginPendingPerAddressMax: 8,
  loginFailuresBeforeDelay: 5,
  loginFailureDelayMs: 200,
  loginFailureDelayMsMax: 10_000,
  loginFailureWindowMs: 60_000,
  loginFailureAddressesMax: 10_000,
  loginCacheTtlMs: coreLimitsDefault.loginCacheTtlMs,
  loginCacheEntriesMax: coreLimitsDefault.loginCacheEntriesMax,
  ingressBytesMax: 128 * mebibyte,
  ingressUnauthenticatedBytesMax: 32 * mebibyte,
  handshakeBytesMax: 64 * 1024,
  handshakeTimeoutMs: 10_000,
  httpHeadersTimeoutMs: 5000,
  httpIdleTimeoutMs: 5000,
  httpConnectionsMax: 256,
  httpConnectionsPerAddressMax: 32,
  webConnectionsPerAddressMax: 1000,
  connectionsPerAddressMax: 4096,
  shutdownTimeoutMs: 10_000,
  mqttConnectionsMax: 200_000,
  mqttPacketBytesMax: 1024 * 1024,
  mqttInflightMax: 1000,
  mqttQueuedMessagesMax: 100_000,
  mqttQueuedBytesMax: 64 * 1024 * 1024,
  mqttTopicLevelsMax: 128,
  mqttTopicBytesMax: 65_535,
  mqttKeepAliveSecondsMax: 0,
  mqttDeniedFilters: [],
  mqttAuthentication: 'optional',
  mqttCertLogin: 'off',
  kafkaAutoCreateTopics: true,
  kafkaDefaultPartitions: 1,
  kafkaReplicationFactorMax: 1,
  kafkaGroupInitialRebalanceDelayMs: 3000,
  kafkaIdleTimeoutMs: 600_000,
  // Kafka's default (KIP-541): a fetch asking less is unchanged.
  kafkaFetchBytesMax: 55 * 1024 * 1024,
  kafkaRequestEntriesMax: 10_000,
  kafkaSasl: 'auto',
  kafkaSaslSessionLifetimeMs: 0,
  kafkaVhost: '/',
};

export type SettingType =
  | { readonly kind: 'port' }
  | { readonly kind: 'integer'; readonly min: number; readonly max: number }
  | { readonly kind: 'string'; readonly lengthMin: number; readonly lengthMax: number }
  | { readonly kind: 'enum'; readonly values: readonly string[] }
  | { readonly kind: 'list'; readonly itemsMax: number; readonly itemLengthMax: number }
  | { readonly kind: 'boolean' };

interface SettingSpec {
  readonly type: SettingType;
  readonly group:
    | 'Listeners'
    | 'TLS'
    | 'Storage'
    | 'Limits'
    | 'Alarms'
    | 'Users'
    | 'Logins'
    | 'Tokens'
    | 'Connections'
    | 'Process'
    | 'MQTT'
    | 'Kafka';
  readonly description: string;
  /** Never logged or shown with its value. */
  readonly secret?: boolean;
}

export interface Setting extends SettingSpec {
  readonly name: SettingName;
  readonly flag: string;
  readonly env: string;
  readonly default: Config[SettingName];
}

const port = { kind: 'port' } as const;
const integer = (min: number, max: number) => ({ kind: 'integer', min, max }) as const;
const text = (lengthMin: number, lengthMax: number) => ({ kind: 'string', lengthMin, lengthMax }) as const;
const oneOf = (values: readonly string[]) => ({ kind: 'enum', values }) as const;
const countMax = 100_000_000;

const specs: { readonly [K in SettingName]: SettingSpec } = {
  host: { type: text(1, 255), group: 'Listeners', description: 'Address every listener binds to.' },
  amqpPort: { type: port, group: 'Listeners', description: 'AMQP 0-9-1 port.' },
  mqttPort: { type: port, group: 'Listeners', description: 'MQTT 3.1.1 and 5.0 port.' },
  mqttWsPort: { type: port, group: 'Listeners', description: 'MQTT over WebSocket port.' },
  kafkaPort: {
    type: port,
    group: 'Listeners',
    description: 'Kafka protocol port (security.protocol PLAINTEXT, or SASL_PLAINTEXT under kafkaSasl).',
  },
  grpcPort: { type: port, group: 'Listeners', description: 'KubeMQ gRPC port.' },
  restPort: { type: port, group: 'Listeners', description: 'KubeMQ REST and WebSocket port.' },
  httpPort: {
    type: port,
    group: 'Listeners',
    description: 'HTTP admin API, dashboard and Prometheus metrics port.',
  },
  amqpsPort: {
    type: port,
    group: 'TLS',
    description: 'AMQP 0-9-1 over TLS port; on once tlsCertFile is set.',
  },
  mqttsPort: { type: port, group: 'TLS', description: 'MQTT over TLS port; on once tlsCertFile is set.' },
  mqttWssPort: {
    type: port,
    group: 'TLS',
    description: 'MQTT over secure WebSocket (`wss://`, path `/mqtt`) port; on once tlsCertFile is set.',
  },
  kafkaTlsPort: {
    type: port,
    group: 'TLS',
    description:
      'Kafka protocol over TLS port (security.protocol SSL, or SASL_SSL under kafkaSasl); on once ' +
      'tlsCertFile is set.',
  },
  httpsPort: {
    type: port,
    group: 'TLS',
    description: 'HTTPS admin API, dashboard and metrics port; on once tlsCertFile is set.',
  },
  tlsCertFile: {
    type: text(0, 4096),
    group: 'TLS',
    description:
      'PEM certificate chain (leaf first) served by every TLS listener. Setting it turns on the TLS form ' +
      'of every listener at its port (a TLS port of 0 stays off), and the KubeMQ gRPC and REST ports speak ' +
      'TLS only. Re-read with the key and CA on SIGHUP: new connections get the new certificate, open ' +
      'ones keep theirs.',
  },
  tlsKeyFile: {
    type: text(0, 4096),
    group: 'TLS',
    description: 'PEM private key of tlsCertFile (unencrypted); needed with it.',
  },
  tlsCaFile: {
    type: text(0, 4096),
    group: 'TLS',
    description:
      'PEM CA certificates a client certificate must chain to; needed when tlsClientAuth is not `none`.',
  },
  tlsClientAuth: {
    type: oneOf(tlsClientAuths),
    group: 'TLS',
    description:
      '`none`: no client certificate is asked for. `request`: one is asked for; a client without one ' +
      'is let in, one whose certificate does not verify against tlsCaFile is refused. `require`: a ' +
      'client without a verified certificate is refused.',
  },
  tlsMinVersion: {
    type: oneOf(tlsMinVersions),
    group: 'TLS',
    description: 'Oldest TLS version accepted.',
  },
  tlsCiphers: {
    type: text(0, 4096),
    group: 'TLS',
    description:
      "OpenSSL cipher list (TLS 1.2 ciphers and TLS 1.3 suites, colon separated); empty keeps Node's defaults.",
  },
  certLoginFrom: {
    type: oneOf(certLoginSources),
    group: 'TLS',
    description:
      'Which part of a verified client certificate names the user of a certificate login (AMQP EXTERNAL, ' +
      "mqttCertLogin); RabbitMQ's ssl_cert_login_from. `common_name`: the subject's CN. " +
      '`distinguished_name`: the whole subject as RFC 4514 writes it, last RDN first (`O=Acme,CN=alice`). ' +
      '`subject_alternative_name`: a SAN of certLoginSanType, the certLoginSanIndex-th of that type. The ' +
      'user must exist; its permissions apply.',
  },
  certLoginSanType: {
    type: oneOf(certLoginSanTypes),
    group: 'TLS',
    description: 'The SAN type certLoginFrom `subject_alternative_name` takes the user name from.',
  },
  certLoginSanIndex: {
    type: integer(0, 100),
    group: 'TLS',
    description: 'Which SAN of certLoginSanType names the user, counting from 0.',
  },
  jwtKeys: {
    type: { kind: 'list', itemsMax: 100, itemLengthMax: 4096 },
    group: 'Tokens',
    description:
      'Keys that verify JWT bearer tokens, each `<kid>=<file>`: a PEM public key (RSA or EC; RS*, PS*, ES* ' +
      'tokens) or a file whose bytes are an HMAC secret of at least 32 bytes (HS* tokens; one trailing ' +
      'newline is dropped). A token names its key with the `kid` header. Setting a key (or jwtJwksFile) ' +
      'turns JWT logins on. Read at start and again on SIGHUP.',
  },
  jwtJwksFile: {
    type: text(0, 4096),
    group: 'Tokens',
    description:
      'A JWKS file (`{"keys":[…]}`, RSA, EC and `oct` keys, each with a `kid`) read at start and again on ' +
      'SIGHUP, beside jwtKeys. Keys are never fetched from the network nor taken from a token.',
  },
  jwtDefaultKey: {
    type: text(0, 255),
    group: 'Tokens',
    description:
      'The kid of the key that verifies tokens without a `kid` header; empty: such tokens are refused.',
  },
  jwtAlgorithms: {
    type: { kind: 'list', itemsMax: 12, itemLengthMax: 8 },
    group: 'Tokens',
    description:
      `Signature algorithms a token may use, of ${jwtAlgorithmNames.join(', ')}. \`none\` is never accepted, ` +
      'and a key is only used with algorithms of its own kind (an HMAC algorithm never with a public key).',
  },
  jwtResourceServerId: {
    type: text(1, 255),
    group: 'Tokens',
    description:
      "RabbitMQ's resource_server_id: only scopes `<id>.…` count (`<id>.read:<vhost>/<name>`, " +
      "`<id>.write:…`, `<id>.configure:…`, `<id>.tag:<tag>`), and the token's `aud` must name it unless " +
      'jwtAudience says otherwise.',
  },
  jwtAudience: {
    type: text(0, 255),
    group: 'Tokens',
    description: 'The value `aud` must hold (a string or one item of a list); empty: jwtResourceServerId.',
  },
  jwtIssuer: {
    type: text(0, 1024),
    group: 'Tokens',
    description: 'The value `iss` must equal; empty: `iss` is not checked.',
  },
  jwtUsernameClaims: {
    type: { kind: 'list', itemsMax: 16, itemLengthMax: 255 },
    group: 'Tokens',
    description:
      "Claims the user name is taken from, the first one present as a non-empty string (RabbitMQ's " +
      'preferred_username_claims). A token with none of them is refused.',
  },
  jwtLeewaySeconds: {
    type: integer(0, 600),
    group: 'Tokens',
    description:
      'Clock skew allowed on `exp` and `nbf`. A connection whose token expires (`exp` plus this) is closed.',
  },
  jwtTokenBytesMax: {
    type: integer(1024, 1024 * 1024),
    group: 'Tokens',
    description:
      'Longest token read; a longer one is refused before it is decoded. (AMQP takes at most about 4000 ' +
      "bytes before connection.tune: the spec's smallest frame.)",
  },
  dataDir: {
    type: text(1, 4096),
    group: 'Storage',
    description: 'Folder holding all data; relative paths start from the working directory.',
  },
  storage: {
    type: oneOf(storageKinds),
    group: 'Storage',
    description: '`file` keeps data in dataDir; `memory` keeps nothing across restarts.',
  },
  fsync: {
    type: oneOf(fsyncKinds),
    group: 'Storage',
    description:
      '`always`: confirm after fsync (group commit), a power loss loses nothing confirmed. ' +
      '`interval`: confirm after write, fsync every fsyncIntervalMs. `never`: confirm after write, the OS ' +
      'decides when to flush. A crash of the process loses nothing confirmed under any policy.',
  },
  fsyncIntervalMs: {
    type: integer(1, 60_000),
    group: 'Storage',
    description: 'Time between fsyncs when fsync is `interval`.',
  },
  storageOpenFilesMax: {
    type: integer(openFilesMaxRange.min, openFilesMaxRange.max),
    group: 'Storage',
    description:
      'Log segment files kept open at once (least recently used are closed first; an idle queue or ' +
      'partition holds none). Keep it well below the open-files limit of the process (`ulimit -n`).',
  },
  compactionIoBytesPerSecondMax: {
    type: integer(0, Number.MAX_SAFE_INTEGER),
    group: 'Storage',
    description:
      "Bytes per second that log compaction reads, writes and frees on file storage (Kafka's " +
      'log.cleaner.io.max.bytes.per.second), so its disk work is spread out instead of arriving in ' +
      "bursts that producers' fsyncs wait behind. 0: no limit.",
  },
  storageSyncMoments: {
    type: { kind: 'boolean' },
    group: 'Storage',
    description:
      "Log compaction's file-system calls on file storage (a swap's renames, index files and fsyncs) run " +
      "just before a producer's fdatasync, and the freeing of replaced segments just after one. " +
      '`false`: each runs when compaction reaches it (for measuring; docs/performance.md, "Kafka compaction").',
  },
  logLevel: { type: oneOf(logLevels), group: 'Process', description: 'Least severe log level written.' },
  queuesMax: { type: integer(1, countMax), group: 'Limits', description: 'Queues across all vhosts.' },
  exchangesMax: { type: integer(1, countMax), group: 'Limits', description: 'Exchanges across all vhosts.' },
  bindingsMax: { type: integer(1, countMax), group: 'Limits', description: 'Bindings across all vhosts.' },
  bodyCacheBytesMax: {
    type: integer(1, 64 * gibibyte),
    group: 'Limits',
    description: 'Bodies of ready durable messages kept in memory; the rest are read from disk on demand.',
  },
  messageBytesMax: {
    type: integer(1, 512 * 1024 * 1024),
    group: 'Limits',
    description: 'Largest message body accepted.',
  },
  streamPartitionsMax: {
    type: integer(1, 1_000_000),
    group: 'Limits',
    description: 'Stream partitions across all vhosts.',
  },
  retainedBytesMax: {
    type: integer(1024, 64 * gibibyte),
    group: 'Limits',
    description:
      'Bytes of retained messages (bodies, topics and properties such as MQTT user properties) one vhost keeps; they are held in memory. A retained message that would pass it is not retained (MQTT 5: PUBACK / PUBREC 0x97 Quota exceeded; 3.1.1 has no code for it), though still delivered to subscribers; one that replaces a larger one always is.',
  },
  producerIdsMax: {
    type: integer(1, 10_000_000),
    group: 'Limits',
    description:
      'Kafka producer ids one vhost keeps (idempotent and transactional); a new one past it makes the ' +
      'least recently used idempotent ones forgotten, as their expiry after a day would.',
  },
  transactionalIdsMax: {
    type: integer(1, 10_000_000),
    group: 'Limits',
    description:
      'Kafka transactional ids one vhost keeps; a new one past it makes those without a transaction ' +
      'updated longest ago forgotten, as their expiry after 7 days would.',
  },
  offsetsRetentionMinutes: {
    type: integer(1, 10_000_000),
    group: 'Limits',
    description:
      "Kafka's offsets.retention.minutes: a consumer group's committed offsets expire once it has " +
      "been empty this long (a standalone consumer's, this long after their commit), checked every " +
      '10 minutes; a group left with nothing is removed. Groups with members are never expired.',
  },
  segmentBytesMax: {
    type: integer(1024 * 1024, 2 * gibibyte),
    group: 'Limits',
    description: 'Size at which a log segment file is closed and a new one started.',
  },
  entryBytesMax: {
    type: integer(1024, gibibyte),
    group: 'Limits',
    description: 'Largest single entry (message or record batch) written to a log.',
  },
  memoryHighWatermarkPercent: {
    type: integer(0, 100),
    group: 'Alarms',
    description:
      'The memory alarm is raised while the resident memory (RSS) of the process is above this percent ' +
      "of the machine's RAM (RabbitMQ's vm_memory_high_watermark 0.4); publishers are held back until " +
      'it falls below. 0 turns the memory alarm off, unless memoryHighWatermarkBytes is set.',
  },
  memoryHighWatermarkBytes: {
    type: integer(0, Number.MAX_SAFE_INTEGER),
    group: 'Alarms',
    description: 'The memory alarm limit in bytes; above 0 it replaces memoryHighWatermarkPercent.',
  },
  diskFreeBytesMin: {
    type: integer(0, Number.MAX_SAFE_INTEGER),
    group: 'Alarms',
    description:
      "The disk alarm is raised while the free space of dataDir's file system is below this " +
      "(RabbitMQ's disk_free_limit, 50 MB); publishers are held back until there is more. " +
      '0 turns the disk alarm off; memory storage has none.',
  },
  defaultUser: { type: text(1, 255), group: 'Users', description: 'User created on first start.' },
  defaultPass: {
    type: text(0, 255),
    group: 'Users',
    description: 'Password of the default user.',
    secret: true,
  },
  loopbackOnlyUsers: {
    type: { kind: 'list', itemsMax: 1000, itemLengthMax: 255 },
    group: 'Users',
    description: 'Users that may log in from loopback addresses only (comma separated in flags and env).',
  },
  anonymousUser: {
    type: text(0, 255),
    group: 'Users',
    description:
      'The user a client without credentials acts as (an MQTT CONNECT without a user name, a KubeMQ call ' +
      'without a token); it needs permissions like any user. Empty: such clients are accepted from ' +
      'loopback addresses only, as guest. A name: they are accepted from any address, as that user ' +
      '(unless it is listed in loopbackOnlyUsers).',
  },
  amqpAuthMechanisms: {
    type: { kind: 'list', itemsMax: 3, itemLengthMax: 16 },
    group: 'Logins',
    description:
      "SASL mechanisms AMQP 0-9-1 offers in connection.start, of PLAIN, AMQPLAIN, EXTERNAL (RabbitMQ's " +
      'auth_mechanisms). EXTERNAL logs in as the user a verified client certificate names (certLoginFrom) ' +
      'and is offered only on a TLS connection that presented one.',
  },
  metricsOpen: {
    type: { kind: 'boolean' },
    group: 'Users',
    description:
      'GET /metrics answers without credentials from any address. Otherwise it is open only when the ' +
      'broker listens on a loopback address, and needs a monitoring or administrator user when not.',
  },
  metricsSeriesMax: {
    type: integer(0, 10_000_000),
    group: 'Users',
    description:
      'Per-object series (queues, stream partitions, consumer groups) one scrape of /metrics, ' +
      '/metrics/per-object or /metrics/detailed writes at most; objects past it are left out whole and ' +
      'counted in switchyard_metrics_objects_omitted, so many objects cannot make a scrape huge.',
  },
  passwordHashThreads: {
    type: integer(0, 64),
    group: 'Logins',
    description:
      'Child processes that hash passwords (scrypt) at login and when a password is set, apart from the ' +
      'thread pool that does file I/O, so a login flood cannot hold up durable writes, and apart from ' +
      'the broker’s memory. 0: half the cores, 1 to 4. Started when first needed, ended after 30 s idle.',
  },
  loginQueueMax: {
    type: integer(0, countMax),
    group: 'Logins',
    description:
      'Logins waiting for a hashing process; when full, a login is refused at once (AMQP 403, MQTT ' +
      'CONNACK 0x89 Server busy / 3 Server unavailable). Logins with recent failures wait behind others.',
  },
  loginPendingPerAddressMax: {
    type: integer(1, countMax),
    group: 'Logins',
    description:
      'Logins from one client address queued for or being hashed; more wait for room, and are refused ' +
      'when none comes within their deadline (half to all of loginFailureDelayMsMax).',
  },

  loginFailuresBeforeDelay: {
    type: integer(0, countMax),
    group: 'Logins',
    description: 'Failed logins from one address before its further attempts are spaced out.',
  },
  loginFailureDelayMs: {
    type: integer(1, 3_600_000),
    group: 'Logins',
    description:
      'Spacing of login attempts from an address after loginFailuresBeforeDelay failures; it doubles ' +
      'with each further failure up to loginFailureDelayMsMax.',
  },
  loginFailureDelayMsMax: {
    type: integer(1, 3_600_000),
    group: 'Logins',
    description:
      'Longest spacing. An attempt that gets neither its turn nor room within half to all of this (at ' +
      'random) is refused then, so a guessing loop waits instead of spinning.',
  },

  loginFailureWindowMs: {
    type: integer(1, 86_400_000),
    group: 'Logins',
    description:
      "An address's failures are forgotten this long after its last one (and at its next success).",
  },
  loginFailureAddressesMax: {
    type: integer(0, countMax),
    group: 'Logins',
    description: 'Addresses whose failures are remembered; beyond it the least recently failed is forgotten.',
  },
  loginCacheTtlMs: {
    type: integer(1, 3_600_000),
    group: 'Logins',
    description:
      'A credential verified this recently is accepted again without hashing (kept as an HMAC under a ' +
      'per-process random key; dropped as soon as the password changes or the user is deleted).',
  },
  loginCacheEntriesMax: {
    type: integer(1, countMax),
    group: 'Logins',
    description: 'Verified credentials remembered at once; the oldest go first.',
  },
  ingressBytesMax: {
    type: integer(mebibyte, 64 * gibibyte),
    group: 'Connections',
    description:
      'Bytes read from clients and not yet handed on (partial frames, queued requests, messages being ' +
      "assembled), across all connections of every listener (Kafka's queued.max.request.bytes). When " +
      'reached, listeners stop reading sockets (TCP back-pressure) until bytes are released.',
  },
  ingressUnauthenticatedBytesMax: {
    // At least a few KubeMQ gRPC calls waiting for their login (each is charged a stream window).
    type: integer(256 * 1024, 64 * gibibyte),
    group: 'Connections',
    description:
      'The share of ingressBytesMax that connections not yet logged in may hold; beyond it the one ' +
      'holding bytes the longest is closed.',
  },
  handshakeBytesMax: {
    type: integer(4096, 256 * mebibyte),
    group: 'Connections',
    description:
      'Largest MQTT packet or Kafka request a connection may send before it has logged in (Kafka: ' +
      'before its first request is answered); AMQP allows the spec minimum frame, 4096, until tune.',
  },
  handshakeTimeoutMs: {
    type: integer(100, 600_000),
    group: 'Connections',
    description:
      'Time from accepting a connection to its login (AMQP connection.open, MQTT CONNACK, Kafka first ' +
      "request, WebSocket upgrade) before it is closed (RabbitMQ's handshake_timeout).",
  },
  httpHeadersTimeoutMs: {
    type: integer(100, 600_000),
    group: 'Connections',
    description: 'Admin HTTP: time for a request line and headers to arrive before the socket is closed.',
  },
  httpIdleTimeoutMs: {
    type: integer(100, 600_000),
    group: 'Connections',
    description: 'Admin HTTP: a keep-alive connection with no request for this long is closed.',
  },
  httpConnectionsMax: {
    type: integer(1, countMax),
    group: 'Connections',
    description:
      'Admin HTTP connections; a new one beyond it replaces the oldest that has not sent a whole ' +
      'request yet, or is refused when there is none.',
  },
  httpConnectionsPerAddressMax: {
    type: integer(1, countMax),
    group: 'Connections',
    description: 'Admin HTTP connections from one client address, under the same rule.',
  },
  webConnectionsPerAddressMax: {
    type: integer(1, countMax),
    group: 'Connections',
    description:
      'Connections from one client address to each KubeMQ REST/WebSocket and MQTT over WebSocket ' +
      'listener (plain and TLS), under the admin rule: a new one beyond it replaces the oldest that ' +
      'has not sent a whole request, or is answered 503 with Retry-After when every one is busy ' +
      '(an upgraded WebSocket always is).',
  },
  connectionsPerAddressMax: {
    type: integer(1, countMax),
    group: 'Connections',
    description:
      'Connections from one client address to the AMQP, MQTT, Kafka and KubeMQ gRPC listeners together ' +
      '(plain and TLS), counted at TCP accept. One beyond it is refused at once: closed, or on plain ' +
      'MQTT answered CONNACK 0x97 Quota exceeded (v5) or 3 Server unavailable (3.1.1).',
  },
  shutdownTimeoutMs: {
    type: integer(1, 600_000),
    group: 'Process',
    description: 'Graceful shutdown gives up and exits after this long.',
  },
  mqttConnectionsMax: {
    type: integer(1, countMax),
    group: 'MQTT',
    description: 'Open MQTT connections (TCP and WebSocket); beyond it CONNACK 0x97 (v5) or 3 (3.1.1).',
  },
  mqttPacketBytesMax: {
    // The top is the largest packet the protocol can express (MQTT 5.0 §1.5.5).
    type: integer(64, 268_435_460),
    group: 'MQTT',
    description:
      'Largest MQTT packet accepted, announced to v5 clients as Maximum Packet Size; beyond it the ' +
      'connection is closed (v5: DISCONNECT 0x95).',
  },
  mqttInflightMax: {
    type: integer(1, 65_535),
    group: 'MQTT',
    description:
      "QoS 1/2 messages sent to one client and not yet acknowledged (also capped by the client's Receive Maximum).",
  },
  mqttQueuedMessagesMax: {
    type: integer(1, countMax),
    group: 'MQTT',
    description:
      'Messages waiting in one MQTT session, not yet sent (those in flight are not counted). Checked every second; past it the oldest are dropped, QoS 1 and 2 ones included, and neither the publisher nor the subscriber is told (MQTT has no way to say so): a persistent session that stays away long enough loses messages it was owed. EMQX drops the oldest too (max_mqueue_len); Mosquitto drops the newest (max_queued_messages).',
  },
  mqttQueuedBytesMax: {
    type: integer(1024, 64 * gibibyte),
    group: 'MQTT',
    description:
      "Bytes of the messages waiting in one MQTT session, not yet sent: bodies and properties, MQTT 5 user properties included (Mosquitto's max_queued_bytes, though Mosquitto drops the newest); checked every second, beyond it the oldest are dropped, QoS 1 and 2 ones included and nobody told, as past mqttQueuedMessagesMax. Bounds what a subscriber that does not read, or an offline persistent session, holds: a session of a clean client keeps them in memory.",
  },
  mqttTopicLevelsMax: {
    type: integer(1, 65_535),
    group: 'MQTT',
    description: 'Levels in a topic name or filter; beyond it DISCONNECT 0x90 (PUBLISH) or SUBACK 0x8F.',
  },
  mqttTopicBytesMax: {
    type: integer(1, 65_535),
    group: 'MQTT',
    description: 'UTF-8 bytes of a topic name or filter.',
  },
  mqttKeepAliveSecondsMax: {
    type: integer(0, 65_535),
    group: 'MQTT',
    description:
      'Longest keep alive granted; v5 clients asking for more (or 0) are told this as Server Keep Alive. ' +
      '0 grants what the client asks.',
  },
  mqttDeniedFilters: {
    type: { kind: 'list', itemsMax: 1000, itemLengthMax: 65_535 },
    group: 'MQTT',
    description: 'Topic filters whose SUBSCRIBE is refused (SUBACK 0x80), comma separated in flags and env.',
  },
  mqttAuthentication: {
    type: oneOf(mqttAuthentications),
    group: 'MQTT',
    description:
      '`optional`: a CONNECT without a user name is anonymous, one with a user name must log in. ' +
      '`required`: every CONNECT must log in. `off`: credentials are not checked (as a broker with no ' +
      'authentication configured, which some test suites expect).',
  },
  mqttCertLogin: {
    type: oneOf(mqttCertLogins),
    group: 'MQTT',
    description:
      'MQTT over TLS (mqtts, wss) with a verified client certificate. `off`: the certificate only admits ' +
      "the TLS handshake. `username`: the user name is the certificate's (certLoginFrom), whatever CONNECT " +
      "says, and the password is checked as usual (EMQX's peer_cert_as_username). `certificate`: the same, " +
      "and a CONNECT without a password logs in on the certificate alone (RabbitMQ's ssl_cert_login).",
  },
  kafkaAutoCreateTopics: {
    type: { kind: 'boolean' },
    group: 'Kafka',
    description: "Metadata or Produce for an unknown topic creates it (Kafka's auto.create.topics.enable).",
  },
  kafkaDefaultPartitions: {
    type: integer(1, 10_000),
    group: 'Kafka',
    description: 'Partitions of an auto-created topic, and of CreateTopics asking for -1.',
  },
  kafkaReplicationFactorMax: {
    type: integer(1, 16),
    group: 'Kafka',
    description:
      'The largest replication factor CreateTopics accepts. One node keeps one replica whatever is asked, so ' +
      'above 1 this only lets tools and test suites written for a cluster create their topics.',
  },
  kafkaGroupInitialRebalanceDelayMs: {
    type: integer(0, 300_000),
    group: 'Kafka',
    description:
      "How long a consumer group that has no members waits for more to join before its first generation (Kafka's " +
      'group.initial.rebalance.delay.ms); extended while members keep joining, up to the rebalance timeout.',
  },
  kafkaIdleTimeoutMs: {
    type: integer(1000, 86_400_000),
    group: 'Kafka',
    description:
      "A connection that sends nothing and awaits no answer for this long is closed (Kafka's " +
      'connections.max.idle.ms).',
  },
  kafkaFetchBytesMax: {
    type: integer(1024, 1024 * 1024 * 1024),
    group: 'Kafka',
    description:
      "Most record bytes one Fetch answer carries, whatever the consumer's fetch.max.bytes (Kafka's " +
      'broker fetch.max.bytes, KIP-541); the first batch with data still goes whole even when larger (KIP-74).',
  },
  kafkaRequestEntriesMax: {
    type: integer(100, 10_000_000),
    group: 'Kafka',
    description:
      'Most array elements (topics, partitions, groups, configs... all arrays together) one request may ' +
      'hold; a request with more closes its connection, as one past the frame size does, before it is ' +
      'decoded further. Decoding, handling and answering cost about 2–20 µs an element here, all on ' +
      'the one event loop, so the default keeps any request under about 100 ms; raise it for a consumer ' +
      'of more partitions of this broker in one fetch.',
  },
  kafkaSasl: {
    type: oneOf(kafkaSaslModes),
    group: 'Kafka',
    description:
      '`required`: both Kafka ports authenticate every connection with SASL (PLAIN, SCRAM-SHA-256, ' +
      'SCRAM-SHA-512): kafkaPort is SASL_PLAINTEXT and kafkaTlsPort SASL_SSL, and any request but ' +
      'ApiVersions, SaslHandshake and SaslAuthenticate before it closes the connection. `off`: kafkaPort ' +
      'is PLAINTEXT and kafkaTlsPort SSL; clients are not authenticated. `auto`: `required` when host ' +
      'is not a loopback address (127.0.0.0/8, ::1), `off` when it is.',
  },
  kafkaSaslSessionLifetimeMs: {
    type: integer(0, 2_147_483_647),
    group: 'Kafka',
    description:
      "How long a SASL login lasts on a Kafka connection (Kafka's connections.max.reauth.ms, KIP-368): " +
      'told to clients in SaslAuthenticate v1+, which re-authenticate before it ends; a connection ' +
      'that has not, is closed at its next request after that. 0: logins last as long as the connection.',
  },
  kafkaVhost: {
    type: text(1, 255),
    group: 'Kafka',
    description:
      "The vhost whose streams are the Kafka topics; Kafka clients act in it with their user's permissions.",
  },
};

export function flagName(name: string): string {
  return `--${name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)}`;
}

export function envName(name: string): string {
  return `SWITCHYARD_${name.replace(/[A-Z]/g, (letter) => `_${letter}`).toUpperCase()}`;
}

export const settings: readonly Setting[] = (Object.keys(specs) as SettingName[]).map((name) => ({
  name,
  flag: flagName(name),
  env: envName(name),
  default: configDefault[name],
  ...specs[name],
}));

export const settingByName: ReadonlyMap<string, Setting> = new Map(settings.map((s) => [s.name, s]));

/** The loader's own options, not settings: where the config file is. */
export const configFileFlag = '--config';
export const configFileEnv = 'SWITCHYARD_CONFIG';
