/**
 * An admin HTTP server alone over a memory core with guest/guest reachable from any address: for the
 * admin tests that need a setting the embedded broker does not expose (a manual clock, closed
 * /metrics, a short session lifetime).
 */
import { type AdminLimits, startAdminServer } from '../src/admin/http.js';
import { BrokerCore } from '../src/core/broker.js';
import { createAuthenticator } from '../src/server/auth.js';
import type { Clock } from '../src/shared/clock.js';
import { silentLogger } from '../src/shared/logger.js';
import { MemoryStorage } from '../src/storage/memory.js';

export interface AdminServerOptions {
  readonly clock?: Clock;
  readonly limits?: Partial<AdminLimits>;
}

/** Runs `use` against the server's base URL and closes server, gate and core after it, whatever happens. */
export async function withAdminServer(
  options: AdminServerOptions,
  use: (url: string, core: BrokerCore) => Promise<void>,
): Promise<void> {
  const core = await BrokerCore.open({
    storage: new MemoryStorage(),
    ...(options.clock === undefined ? {} : { clock: options.clock }),
  });
  const auth = createAuthenticator(
    { defaultUser: 'guest', defaultPass: 'guest', loopbackOnlyUsers: [] },
    core,
  );
  try {
    const admin = await startAdminServer({
      host: '127.0.0.1',
      port: 0,
      core,
      auth,
      metricsOpen: false,
      logger: silentLogger(),
      limits: {
        headersTimeoutMs: 5000,
        idleTimeoutMs: 5000,
        connectionsMax: 16,
        connectionsPerAddressMax: 16,
        ...options.limits,
      },
      info: { version: 't', startedAtMs: 0, listeners: () => [], alarms: () => [] },
    });
    try {
      await use(`http://127.0.0.1:${admin.port}`, core);
    } finally {
      await admin.close();
    }
  } finally {
    await auth.close();
    await core.close();
  }
}
