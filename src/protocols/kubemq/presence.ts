/**
 * A KubeMQ call as operators see it. KubeMQ has no connection handshake and a `ClientID` per request,
 * so each long-lived call (a subscription, a queue or events stream, a WebSocket) is listed in
 * `/api/connections` as a connection of its own — protocol `KubeMQ`, with the client id its requests
 * gave and the channels it subscribes to — and an operator's close ends that call. A unary call is
 * over before anyone could look, and is not listed.
 */
import type { ConnectionDescription } from '../../core/api.js';
import type { ChannelActivity, ChannelType } from './activity.js';

/** Both ends of the call's transport connection. */
export interface CallEnds {
  readonly peerHost: string;
  readonly peerPort: number | undefined;
  readonly host: string;
  readonly port: number | undefined;
  readonly tls: boolean;
}

export class CallPresence {
  readonly #activity: ChannelActivity;
  readonly #connectionId: string;
  #clientId: string | undefined;
  #subscriptions = 0;
  readonly #left = new Set<() => void>();

  constructor(activity: ChannelActivity, connectionId: string) {
    this.#activity = activity;
    this.#connectionId = connectionId;
  }

  noteClient(clientId: string): void {
    if (clientId !== '') this.#clientId = clientId;
  }

  /**
   * A subscription (or a receiver waiting on a queue) of this call, counted until the call ends or
   * the function returned is called.
   */
  subscribe(type: ChannelType, channel: string, clientId?: string): () => void {
    if (clientId !== undefined) this.noteClient(clientId);
    this.#subscriptions++;
    const left = this.#activity.subscribed(type, channel);
    const leave = () => {
      if (!this.#left.delete(leave)) return;
      this.#subscriptions--;
      left();
    };
    this.#left.add(leave);
    return leave;
  }

  /** What core lists for this call; `close` ends it in gRPC's or WebSocket's terms. */
  describe(ends: CallEnds, close: (reason: string) => void): ConnectionDescription {
    const peer = `${ends.peerHost}:${ends.peerPort ?? 0}`;
    return {
      name: `${peer} -> ${ends.host}:${ends.port ?? 0} (${this.#connectionId})`,
      protocol: 'KubeMQ',
      ...ends,
      connectedAtMs: Date.now(),
      clientId: () => this.#clientId,
      // The transport's bytes are shared by every call on it: none is counted per call.
      traffic: () => ({ recvOct: 0, sendOct: 0, sendPend: 0 }),
      channels: () => [],
      subscriptions: () => this.#subscriptions,
      close,
    };
  }

  /** The call ended: its subscriptions are gone. */
  end(): void {
    for (const leave of [...this.#left]) leave();
  }
}
