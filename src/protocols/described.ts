/**
 * The description a front end hands core at `connection.open` (`ConnectionDescription`, read by the
 * admin API's `/api/connections`): addresses and traffic from the transport, the rest from the
 * protocol. Nothing here runs on the message path; the functions are called when an operator asks.
 */
import type { ChannelDescription, ConnectionDescription, ConnectionTraffic } from '../core/api.js';
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

/**
 * One object per connection, its functions on the prototype: the closures and copied fields of an
 * object literal cost every idle connection about 400 bytes more. Read when an operator asks.
 */
class DescribedConnection implements ConnectionDescription {
  readonly connectedAtMs = Date.now();
  declare readonly clientProperties?: Headers;
  readonly #transport: Transport;
  readonly #fields: DescribedFields;

  constructor(transport: Transport, fields: DescribedFields) {
    this.#transport = transport;
    this.#fields = fields;
    if (fields.clientProperties !== undefined) this.clientProperties = fields.clientProperties;
  }

  get name(): string {
    return connectionName(this.#transport);
  }

  get protocol(): string {
    return this.#fields.protocol;
  }

  get peerHost(): string {
    return this.#transport.remoteAddress ?? '';
  }

  get peerPort(): number | undefined {
    return this.#transport.remotePort;
  }

  get host(): string {
    return this.#transport.localAddress ?? '';
  }

  get port(): number | undefined {
    return this.#transport.localPort;
  }

  get tls(): boolean {
    return this.#transport.tls !== undefined;
  }

  clientId(): string | undefined {
    const { clientId } = this.#fields;
    return typeof clientId === 'function' ? clientId() : clientId;
  }

  traffic(): ConnectionTraffic {
    const octets = this.#transport.octets?.() ?? { read: 0, written: 0 };
    const counted = this.#fields.counts?.();
    return {
      recvOct: octets.read,
      sendOct: octets.written,
      sendPend: this.#transport.bufferedBytes,
      ...(counted === undefined ? {} : { recvCnt: counted.recv, sendCnt: counted.send }),
    };
  }

  channels(): ChannelDescription[] {
    return this.#fields.channels?.() ?? [];
  }

  close(reason: string): void {
    this.#fields.close(reason);
  }
}

export function describeConnection(transport: Transport, fields: DescribedFields): ConnectionDescription {
  return new DescribedConnection(transport, fields);
}
