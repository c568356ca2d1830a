/**
 * What a KubeMQ caller may make the broker hold before it has logged in, on both ports, under the
 * broker's one ingress budget (../ingress.ts): the share of it unauthenticated bytes may take, past
 * which the holder waiting longest is dropped.
 *
 * gRPC (`loginInterceptor`): every call logs in from its metadata before a byte of its messages is read.
 * grpc-js keeps an HTTP/2 stream paused until the handler asks for a message, and the handler is not
 * started until the login is decided, so a call waiting for its login holds at most its headers and
 * what HTTP/2 flow control lets its client send into the paused stream (one stream window). That is
 * what it is charged in the budget while it waits; a refused login answers UNAUTHENTICATED and the
 * stream's data is dropped unread. One connection may have `loginsPerConnectionMax` calls waiting for
 * their login at once; more are refused at once (RESOURCE_EXHAUSTED). The handler gets the login with
 * the call's metadata (`loginOf`).
 *
 * REST (`RestAdmission`): each connection's bytes are counted as they are read, against the
 * unauthenticated share until its request has logged in, then against the budget until the request
 * is answered (its body is read after the login); each request on a keep-alive connection logs in
 * anew. Node's HTTP server stops reading a request whose body nobody reads, so before its login a
 * request holds its head and at most a read's worth of body.
 */
import { Buffer } from 'node:buffer';
import type { IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';
import {
  type Metadata,
  ServerInterceptingCall,
  type ServerInterceptingCallInterface,
  type ServerInterceptor,
  status,
} from '@grpc/grpc-js';
import type { IngressAccount, IngressBudget } from '../ingress.js';
import { peerCertificateOf } from '../tls.js';
import { asFailure } from './errors.js';
import { messageLimitOf, nameLimitOn } from './grpc-limits.js';
import type { CallEnds } from './presence.js';
import type { KubemqLogin, KubemqServer } from './server.js';

/** Calls of one gRPC connection that may wait for their login at once. */
export const loginsPerConnectionMax = 16;
/**
 * What a paused HTTP/2 stream can be sent before its client must wait: Node's initial stream window
 * (RFC 9113 §6.9.2's default, which grpc-js leaves as it is).
 */
export const http2StreamWindowBytes = 65_535;

/** The login of each admitted call, by the metadata object its handler gets. */
const logins = new WeakMap<Metadata, KubemqLogin>();
/** Both ends of each admitted call's connection, for operators (./presence.ts). */
const callEnds = new WeakMap<Metadata, CallEnds>();

/** Both ends of the connection of the call whose metadata this is, as its login saw them. */
export function endsOf(metadata: Metadata): CallEnds | undefined {
  return callEnds.get(metadata);
}

/** The login `loginInterceptor` made for the call whose metadata this is, if it did. */
export function loginOf(metadata: Metadata): KubemqLogin | undefined {
  return logins.get(metadata);
}

function metadataBytes(metadata: Metadata): number {
  let bytes = 0;
  for (const [key, value] of Object.entries(metadata.getMap()))
    bytes += key.length + (typeof value === 'string' ? Buffer.byteLength(value) : value.byteLength);
  return bytes;
}

/** grpc-js names the peer `<address>:<port>` (IPv6 without brackets); the login wants the address. */
export function peerAddress(peer: string): string {
  const colon = peer.lastIndexOf(':');
  return colon > 0 && /^\d+$/.test(peer.slice(colon + 1)) ? peer.slice(0, colon) : peer;
}

/** The interceptor that logs every call in before its messages are read. */
export function loginInterceptor(
  server: KubemqServer,
  ingress: IngressBudget | undefined,
): ServerInterceptor {
  const waiting = new Map<string, number>();
  const limit = messageLimitOf(server.limits.messageBytesMax);
  return (_method, call: ServerInterceptingCallInterface) => {
    // The first interceptor, so `call` is grpc-js's base call, whose refusals of a large message this names.
    nameLimitOn(call, limit);
    const gone = new AbortController();
    return new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, admit) =>
            admitCall(server, call, metadata, { ingress, waiting, gone, admit }),
          onCancel: () => gone.abort(),
        }),
    });
  };
}

interface Admit {
  readonly ingress: IngressBudget | undefined;
  readonly waiting: Map<string, number>;
  readonly gone: AbortController;
  readonly admit: (metadata: Metadata) => void;
}

function admitCall(
  server: KubemqServer,
  call: ServerInterceptingCallInterface,
  metadata: Metadata,
  { ingress, waiting, gone, admit }: Admit,
): void {
  const metadataBytesHeld = metadataBytes(metadata);
  if (metadataBytesHeld > server.limits.metadataBytesMax) {
    // A call keeps its metadata for as long as it lasts (a subscription: indefinitely).
    const details = `metadata of ${metadataBytesHeld} bytes; at most ${server.limits.metadataBytesMax}`;
    call.sendStatus({ code: status.RESOURCE_EXHAUSTED, details });
    return;
  }
  const info = call.getConnectionInfo();
  const connection = `${info.remoteAddress}|${info.remotePort}|${info.localPort}`;
  const already = waiting.get(connection) ?? 0;
  if (already >= loginsPerConnectionMax) {
    call.sendStatus({ code: status.RESOURCE_EXHAUSTED, details: 'too many calls waiting for their login' });
    return;
  }
  waiting.set(connection, already + 1);
  let refused = false;
  const account: IngressAccount | undefined = ingress?.open({
    pause: () => {},
    resume: () => {},
    evict: () => {
      refused = true;
      gone.abort();
      call.sendStatus({
        code: status.RESOURCE_EXHAUSTED,
        details: 'too many logins under way; try again later',
      });
    },
  });
  account?.add(metadataBytesHeld + http2StreamWindowBytes);
  const decided = () => {
    account?.close();
    const left = (waiting.get(connection) ?? 1) - 1;
    if (left === 0) waiting.delete(connection);
    else waiting.set(connection, left);
  };
  const token = metadata.get('authorization')[0];
  // grpc-js gives the client certificate only when it verified against the CA.
  const cert = call.getAuthContext().sslPeerCertificate;
  const credentials = {
    token: typeof token === 'string' ? token : token?.toString(),
    certificate: cert === undefined ? undefined : peerCertificateOf(cert),
  };
  server.login(credentials, peerAddress(call.getPeer()), gone.signal).then(
    (login) => {
      decided();
      if (refused || gone.signal.aborted) return;
      logins.set(metadata, login);
      callEnds.set(metadata, {
        peerHost: info.remoteAddress ?? '',
        peerPort: info.remotePort,
        host: info.localAddress ?? '',
        port: info.localPort,
        tls: call.getAuthContext().transportSecurityType === 'ssl',
      });
      admit(metadata);
    },
    (err: unknown) => {
      decided();
      if (refused || gone.signal.aborted) return;
      const failure = asFailure(err);
      call.sendStatus({ code: failure.code, details: failure.message });
    },
  );
}

/** One REST connection's account: what it read and has not had answered. */
interface Tracked {
  account: IngressAccount;
  readonly socket: Socket;
}

export class RestAdmission {
  readonly #ingress: IngressBudget | undefined;
  readonly #tracked = new WeakMap<Socket, Tracked>();

  constructor(ingress: IngressBudget | undefined) {
    this.#ingress = ingress;
  }

  /** Counts the bytes of every connection of `server` (the decrypted ones under TLS). */
  watch(server: Server, tls: boolean): void {
    if (this.#ingress === undefined) return;
    server.on(tls ? 'secureConnection' : 'connection', (socket: Socket) => this.#track(socket));
  }

  #track(socket: Socket): void {
    const tracked: Tracked = { socket, account: this.#open(socket) };
    this.#tracked.set(socket, tracked);
    const onData = (chunk: Buffer) => tracked.account.add(chunk.byteLength);
    // Prepended, and after Node's own listener was set up: Node then reads the socket in JavaScript.
    socket.prependListener('data', onData);
    socket.once('close', () => {
      socket.off('data', onData);
      tracked.account.close();
      this.#tracked.delete(socket);
    });
  }

  #open(socket: Socket): IngressAccount {
    return this.#ingress!.open({
      pause: () => socket.pause(),
      resume: () => socket.resume(),
      evict: () => socket.destroy(),
    });
  }

  /** The request logged in: what its connection holds is no longer unauthenticated. */
  loggedIn(req: IncomingMessage): void {
    this.#tracked.get(req.socket as Socket)?.account.authenticate();
  }

  /**
   * The request was answered (or its connection upgraded): its bytes are let go, and the next request
   * on the connection starts unauthenticated again. An upgraded connection is no longer counted here.
   */
  done(req: IncomingMessage, upgraded = false): void {
    const socket = req.socket as Socket;
    const tracked = this.#tracked.get(socket);
    if (tracked === undefined) return;
    tracked.account.close();
    if (upgraded || socket.destroyed) {
      this.#tracked.delete(socket);
      return;
    }
    tracked.account = this.#open(socket);
  }
}
