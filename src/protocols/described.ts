/**
 * The description a front end hands core at `connection.open` (`ConnectionDescription`, read by the
 * admin API's `/api/connections`): addresses and traffic from the transport, the rest from the
 * protocol. Nothing here runs on the message path; the functions are called when an operator asks.
 */
import type { ChannelDescription, ConnectionDescription } from '../core/api.js';
import type { Headers } from '../core/types.js';
import type { Transport } from './transport.js';

export interface DescribedFields {
  /** As operators see it: `AMQP 0-9-1`, `MQTT 5.0`, `Kafka`, `KubeMQ`. */
  readonly protocol: string;
  readonly clientProperties?: Headers;
  readonly clientId?: string | (() => string);
  /** Frames or packets in and out, where the adapter counts them. */
  readonly counts?: () => { readonly recv: number; readonly send: number };
  readonly channels?: () => ChannelDescription[];
  /** Ends the connection in the protocol's terms when an operator closes it. */
  readonly close: (reason: string) => void;
}

/** RabbitMQ's connection name: `peer:port -> local:port`. */
export function connectionName(transport: Transport): string {
  const peer = `${transport.remoteAddress ?? '?'}:${transport.remotePort ?? 0}`;
  return `${peer} -> ${transport.localAddress ?? '?'}:${transport.localPort ?? 0}`;
}

export function describeConnection(transport: Transport, fields: DescribedFields): ConnectionDescription {
  const { counts, channels } = fields;
  return {
    name: connectionName(transport),
    protocol: fields.protocol,
    peerHost: transport.remoteAddress ?? '',
    peerPort: transport.remotePort,
    host: transport.localAddress ?? '',
    port: transport.localPort,
    tls: transport.tls !== undefined,
    connectedAtMs: Date.now(),
    ...(fields.clientProperties === undefined ? {} : { clientProperties: fields.clientProperties }),
    clientId: () => (typeof fields.clientId === 'function' ? fields.clientId() : fields.clientId),
    traffic: () => {
      const octets = transport.octets?.() ?? { read: 0, written: 0 };
      const counted = counts?.();
      return {
        recvOct: octets.read,
        sendOct: octets.written,
        ...(counted === undefined ? {} : { recvCnt: counted.recv, sendCnt: counted.send }),
      };
    },
    channels: () => channels?.() ?? [],
    close: fields.close,
  };
}
