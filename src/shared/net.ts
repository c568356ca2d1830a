/** Binding a server: the one place that turns `listen`'s callback and error event into a promise. */
import type { Server } from 'node:net';

/** Listens on `host:port` (0 = any free port) and resolves with the port actually bound. */
export function listenOn(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const address = server.address();
      resolve(typeof address === 'object' && address !== null ? address.port : port);
    });
  });
}
