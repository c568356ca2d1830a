/** Binding a server: the one place that turns `listen`'s callback and error event into a promise. */
import { isIP, type Server } from 'node:net';

/**
 * Connections the kernel may queue before the broker accepts them (Node's default is 511). A
 * reconnect storm of thousands of clients overflows a short queue, and each dropped SYN costs its
 * client a retransmission a second or more later. The kernel caps it at `net.core.somaxconn`.
 */
const acceptBacklog = 4096;

/** Listens on `host:port` (0 = any free port) and resolves with the port actually bound. */
export function listenOn(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, acceptBacklog, () => {
      server.off('error', reject);
      const address = server.address();
      resolve(typeof address === 'object' && address !== null ? address.port : port);
    });
  });
}

/** A loopback address as node:net reports one (`127.0.0.0/8`, `::1`, `::ffff:127.…`); host names are not. */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const bare = address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  return bare === '::1';
}
