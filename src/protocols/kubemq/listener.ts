/**
 * The KubeMQ listeners: gRPC (default 50000) and REST/WebSocket (default 9090), over TLS once a
 * certificate is configured (as KubeMQ itself, each port speaks one or the other). Both serve one
 * KubemqServer per core, so a client of either sees the same subscribers, cache and channels.
 */

import type { SecureServerOptions } from 'node:http2';
import type { Socket } from 'node:net';
import { ServerCredentials } from '@grpc/grpc-js';
import type { CoreBroker } from '../../core/api.js';
import { listenOn } from '../../shared/net.js';
import type { ListenerContext, ListenerDefinition, RunningListener } from '../listener.js';
import { serveSockets } from '../serve.js';
import { type ListenerTls, secureContextOptions, type TlsMaterial } from '../tls.js';
import { grpcServer } from './grpc.js';
import { routeGrpcLog } from './grpc-log.js';
import { restServer } from './rest.js';
import { type KubemqOptions, KubemqServer } from './server.js';
import { kubemqServers } from './servers.js';

function acquire(context: ListenerContext, options: KubemqOptions): KubemqServer {
  return kubemqServers.acquire(
    context.core,
    () =>
      new KubemqServer({
        core: context.core,
        auth: context.auth,
        logger: context.logger,
        version: context.version,
        startedAtMs: context.startedAtMs,
        options,
      }),
  );
}

/**
 * gRPC's TLS through grpc-js's own credentials, following reloads: grpc-js swaps the secure context
 * of its HTTP/2 server whenever the credentials announce new options. Under `request`, grpc-js lets a
 * certificate that does not verify through as no certificate (it reports verified ones only).
 */
class ReloadingCredentials extends ServerCredentials {
  readonly #stop: () => void;

  constructor(tls: ListenerTls, handshakeTimeoutMs: number) {
    const material = tls.current();
    const serverOptions: SecureServerOptions = {
      requestCert: material.clientAuth !== 'none',
      rejectUnauthorized: material.clientAuth === 'require',
      handshakeTimeout: handshakeTimeoutMs,
      minVersion: material.minVersion,
      ...(material.ciphers === undefined ? {} : { ciphers: material.ciphers }),
    };
    super(serverOptions, secureContextOptions(material));
    this.#stop = tls.onReload((next: TlsMaterial) =>
      this.updateSecureContextOptions(secureContextOptions(next)),
    );
  }

  stop(): void {
    this.#stop();
  }

  _equals(other: ServerCredentials): boolean {
    return other === this;
  }
}

/**
 * gRPC's port is bound by our own server (`serveSockets`), so that its sockets pass the address gate
 * at accept like every TCP listener's; grpc-js takes each one in through a connection injector (its
 * HTTP/2 server, TLS handshake included, never bound itself). A refused socket is closed before
 * HTTP/2 or TLS starts: the client sees the connection closed and reports UNAVAILABLE.
 */
async function startGrpc(context: ListenerContext, options: KubemqOptions): Promise<RunningListener> {
  const core: CoreBroker = context.core;
  const server = acquire(context, options);
  const unroute = routeGrpcLog(context.logger);
  const grpc = grpcServer(server, context.ingress);
  const credentials =
    context.tls === undefined
      ? ServerCredentials.createInsecure()
      : new ReloadingCredentials(context.tls, context.config.handshakeTimeoutMs);
  const injector = grpc.createConnectionInjector(credentials);
  const stop = () => {
    injector.destroy();
    grpc.forceShutdown();
    unroute();
    if (credentials instanceof ReloadingCredentials) credentials.stop();
    kubemqServers.release(core);
  };
  try {
    const taken = new Set<Socket>();
    // TLS, when configured, is the injector's: the sockets it takes are plain TCP.
    const bound = await serveSockets(context, {
      take: (socket) => {
        taken.add(socket);
        socket.once('close', () => taken.delete(socket));
        injector.injectConnection(socket);
      },
    });
    return {
      port: bound.port,
      close: async () => {
        const closed = bound.close();
        stop();
        // grpc-js closes its HTTP/2 sessions only: a socket without one yet (no preface, a
        // handshake under way) would stay open, and the port's server waits for every socket.
        for (const socket of taken) socket.destroy();
        await closed;
      },
    };
  } catch (err) {
    stop();
    throw err;
  }
}

async function startRest(context: ListenerContext, options: KubemqOptions): Promise<RunningListener> {
  const core: CoreBroker = context.core;
  const server = acquire(context, options);
  const http = restServer(server, context);
  let port: number;
  try {
    port = await listenOn(http, context.host, context.port);
  } catch (err) {
    kubemqServers.release(core);
    throw err;
  }
  return {
    port,
    close: async () => {
      const closing = new Promise<void>((resolve) => http.close(() => resolve()));
      http.closeAllConnections();
      kubemqServers.release(core);
      await closing;
    },
  };
}

/** Listener definitions; `options` carries the vhost and limits (tests and embedders). */
export function kubemqListeners(options: KubemqOptions = {}): ListenerDefinition[] {
  return [
    { name: 'grpc', configKey: 'grpcPort', start: (context) => startGrpc(context, options) },
    { name: 'rest', configKey: 'restPort', start: (context) => startRest(context, options) },
  ];
}

export const [kubemqGrpcListener, kubemqRestListener] = kubemqListeners() as [
  ListenerDefinition,
  ListenerDefinition,
];
