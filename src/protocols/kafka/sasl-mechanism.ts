/**
 * The contract of one SASL mechanism the Kafka ports offer: what a mechanism is given (the peer) and
 * what each of its steps answers. The table of mechanisms and a connection's SASL state are ./sasl.ts;
 * the mechanisms are there and in ./oauthbearer.ts, which import this file and not one another.
 */
import type { Principal } from '../../core/entry/context.js';

/** Who logged in, and when what proved it runs out (a bearer token's expiry; undefined: never). */
export interface SaslLogin {
  readonly principal: Principal;
  readonly expiresAtMs?: number;
}

export type MechanismStep =
  | { readonly kind: 'challenge'; readonly token: Uint8Array }
  | { readonly kind: 'done'; readonly token: Uint8Array; readonly login: SaslLogin }
  /**
   * `message` is what the client is told; without one, Kafka's text that hides the reason. `error` is
   * the mechanism's own error message (OAUTHBEARER's, RFC 7628 §3.2.2): the failed SaslAuthenticate
   * answer carries it as its bytes, and after a v0 handshake it is sent as a challenge before closing.
   */
  | { readonly kind: 'failed'; readonly message?: string; readonly error?: Uint8Array };

export interface MechanismExchange {
  step(token: Uint8Array): Promise<MechanismStep>;
}

export interface SaslPeer {
  readonly remoteAddress: string | undefined;
  /** Aborted when the connection closes. */
  readonly signal: AbortSignal;
}

/**
 * One SASL mechanism the Kafka ports offer, one entry of the table; OAUTHBEARER's `done` (./oauthbearer.ts)
 * carries its token's principal and expiry.
 */
export interface SaslMechanism {
  readonly name: string;
  start(peer: SaslPeer): MechanismExchange;
}
