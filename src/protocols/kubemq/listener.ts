/**
 * The KubeMQ listeners: gRPC (default 50000) and REST/WebSocket (default 9090). Both serve one
 * KubemqServer per core, so a client of either sees the same subscribers, cache and channels.
 */
import { ServerCredentials } from '@grpc/grpc-js';
import type { CoreBroker } from '../../core/api.js';
import { listenOn } from '../../shared/net.js';
import type { ListenerContext, ListenerDefinition, RunningListener } from '../listener.js';
import { grpcServer } from './grpc.js';
import { restServer } from './rest.js';
import { type KubemqOptions, KubemqServer } from './server.js';

const servers = new WeakMap<CoreBroker, { server: KubemqServer; users: number }>();

function acquire(context: ListenerContext, options: KubemqOptions): KubemqServer {
  let entry = servers.get(context.core);
  if (entry === undefined) {
    const server = new KubemqServer({
      core: context.core,
      auth: context.auth,
      logger: context.logger,
      version: context.version,
      startedAtMs: context.startedAtMs,
      options,
    });
    entry = { server, users: 0 };
    servers.set(context.core, entry);
  }
  entry.users++;
  return entry.server;
}

function release(core: CoreBroker): void {
  const entry = servers.get(core);
  if (entry === undefined) return;
  entry.users--;
  if (entry.users > 0) return;
  entry.server.close();
  servers.delete(core);
}

async function startGrpc(context: ListenerContext, options: KubemqOptions): Promise<RunningListener> {
  const server = acquire(context, options);
  const grpc = grpcServer(server);
  const host = context.host.includes(':') ? `[${context.host}]` : context.host;
  try {
    const port = await new Promise<number>((resolve, reject) =>
      grpc.bindAsync(`${host}:${context.port}`, ServerCredentials.createInsecure(), (err, bound) =>
        err === null ? resolve(bound) : reject(err),
      ),
    );
    return {
      port,
      close: async () => {
        grpc.forceShutdown();
        release(context.core);
      },
    };
  } catch (err) {
    grpc.forceShutdown();
    release(context.core);
    throw err;
  }
}

async function startRest(context: ListenerContext, options: KubemqOptions): Promise<RunningListener> {
  const server = acquire(context, options);
  const http = restServer(server);
  let port: number;
  try {
    port = await listenOn(http, context.host, context.port);
  } catch (err) {
    release(context.core);
    throw err;
  }
  return {
    port,
    close: async () => {
      const closing = new Promise<void>((resolve) => http.close(() => resolve()));
      http.closeAllConnections();
      release(context.core);
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
