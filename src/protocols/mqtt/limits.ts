/**
 * Every MQTT limit in one place, with the reason code each one answers with when exceeded
 * (MQTT 5.0 §2.4 reason codes; 3.1.1 clients get the connection closed or the 3.1.1 return code).
 */
import type { Config, MqttAuthentication, MqttCertLogin } from '../../config/schema.js';
import type { CertLoginSettings } from '../tls.js';

export interface MqttLimits {
  /** Open MQTT connections per listener; CONNACK 0x97 (v5) / 0x03 (v3) beyond it. */
  connectionsMax: number;
  /** Largest packet accepted, and advertised as Maximum Packet Size; DISCONNECT 0x95 beyond it. */
  packetBytesMax: number;
  /** Unacknowledged QoS 1/2 messages sent to one client, capped further by its Receive Maximum. */
  inflightMax: number;
  /** QoS 1/2 PUBLISHes a client may have unacknowledged towards us (our Receive Maximum); 0x93 beyond. */
  receiveMax: number;
  /**
   * Messages waiting in one session's queue. Policy when full: the oldest are dropped (as EMQX's
   * mqueue), checked every `queueSweepIntervalMs`, so the queue may briefly exceed the limit.
   */
  queuedMessagesMax: number;
  /** Bytes of the messages waiting in one session's queue: past it the oldest are dropped, by the same sweep. */
  queuedBytesMax: number;
  queueSweepIntervalMs: number;
  /** Levels in a topic name or filter; PUBLISH → DISCONNECT 0x90, SUBSCRIBE → SUBACK 0x8F. */
  topicLevelsMax: number;
  /** UTF-8 bytes of a topic name or filter (the protocol allows 65535). */
  topicBytesMax: number;
  /** Topic aliases a client may use towards us (advertised Topic Alias Maximum). */
  topicAliasesMax: number;
  /** Subscriptions per session; SUBACK 0x97 beyond. */
  subscriptionsMax: number;
  /** Server Keep Alive (v5 §3.2.2.3.14): a client asking for more is told this; 0 = no cap. */
  keepAliveSecMax: number;
  /** Longest session expiry granted, seconds. */
  sessionExpirySecMax: number;
  /** Time allowed from the TCP accept (or WebSocket upgrade) to the CONNACK. */
  connectTimeoutMs: number;
  /** Largest packet before the CONNACK: a client not logged in may make us hold this much at most. */
  connectPacketBytesMax: number;
  /** How often `$SYS/broker/...` statistics are republished (retained). */
  sysIntervalMs: number;
  /** Bytes buffered towards a slow client before its deliveries pause. */
  writeBufferBytesMax: number;
}

export const mqttLimitsDefault: Readonly<MqttLimits> = {
  connectionsMax: 200_000,
  packetBytesMax: 1024 * 1024,
  inflightMax: 1000,
  receiveMax: 1000,
  queuedMessagesMax: 100_000,
  queuedBytesMax: 64 * 1024 * 1024,
  queueSweepIntervalMs: 1000,
  topicLevelsMax: 128,
  topicBytesMax: 65_535,
  topicAliasesMax: 10,
  subscriptionsMax: 1000,
  keepAliveSecMax: 0,
  sessionExpirySecMax: 0xffff_fffe,
  connectTimeoutMs: 10_000,
  connectPacketBytesMax: 64 * 1024,
  sysIntervalMs: 10_000,
  writeBufferBytesMax: 4 * 1024 * 1024,
};

/** Listener options beyond limits: access rules a deployment (or a test profile) sets. */
export interface MqttOptions {
  readonly limits?: Partial<MqttLimits>;
  /** Topic filters whose SUBSCRIBE is refused (SUBACK 0x80 / 0x87), e.g. an ACL's deny lines. */
  readonly deniedFilters?: readonly string[];
  /** Vhost the MQTT clients use; default '/'. */
  readonly vhost?: string;
  /** Who must log in; see the `mqttAuthentication` setting. Default 'optional'. */
  readonly authentication?: MqttAuthentication;
  /** What a verified client certificate does at CONNECT; see the `mqttCertLogin` setting. Default 'off'. */
  readonly certLogin?: MqttCertLogin;
  /** Which part of the certificate names the user (certLoginFrom and its SAN settings). */
  readonly certLoginFrom?: CertLoginSettings;
}

/** The MQTT settings of the configuration schema (src/config/schema.ts). */
export type MqttSettings = Pick<
  Config,
  | 'mqttConnectionsMax'
  | 'mqttPacketBytesMax'
  | 'mqttInflightMax'
  | 'mqttQueuedMessagesMax'
  | 'mqttQueuedBytesMax'
  | 'mqttTopicLevelsMax'
  | 'mqttTopicBytesMax'
  | 'mqttKeepAliveSecondsMax'
  | 'mqttDeniedFilters'
  | 'mqttAuthentication'
  | 'mqttCertLogin'
  | 'certLoginFrom'
  | 'certLoginSanType'
  | 'certLoginSanIndex'
  | 'handshakeTimeoutMs'
  | 'handshakeBytesMax'
>;

/** Options from the configuration; what code passes to `mqttListeners(options)` wins over it. */
export function optionsWithSettings(options: MqttOptions, config: Readonly<MqttSettings>): MqttOptions {
  const limits: Partial<MqttLimits> = {
    connectionsMax: config.mqttConnectionsMax,
    packetBytesMax: config.mqttPacketBytesMax,
    inflightMax: config.mqttInflightMax,
    queuedMessagesMax: config.mqttQueuedMessagesMax,
    queuedBytesMax: config.mqttQueuedBytesMax,
    topicLevelsMax: config.mqttTopicLevelsMax,
    topicBytesMax: config.mqttTopicBytesMax,
    keepAliveSecMax: config.mqttKeepAliveSecondsMax,
    connectTimeoutMs: config.handshakeTimeoutMs,
    connectPacketBytesMax: config.handshakeBytesMax,
  };
  return {
    ...options,
    limits: { ...limits, ...options.limits },
    deniedFilters: options.deniedFilters ?? config.mqttDeniedFilters,
    authentication: options.authentication ?? config.mqttAuthentication,
    certLogin: options.certLogin ?? config.mqttCertLogin,
    certLoginFrom: options.certLoginFrom ?? {
      certLoginFrom: config.certLoginFrom,
      certLoginSanType: config.certLoginSanType,
      certLoginSanIndex: config.certLoginSanIndex,
    },
  };
}

export { Reason, ReturnCode311 } from './codec/reasons.js';

export function resolveLimits(overrides: Partial<MqttLimits> = {}): MqttLimits {
  const limits = { ...mqttLimitsDefault, ...overrides };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isInteger(value) || value < 0)
      throw new RangeError(`MQTT limit ${name} must be a non-negative integer`);
  }
  return limits;
}
