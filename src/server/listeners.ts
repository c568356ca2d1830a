/**
 * The listener registry: every protocol that is built, in start order. A port setting with no entry
 * here logs "<name> listener not built yet; skipped". Protocol adapters add their definition here.
 */
import { startAdminServer } from '../admin/http.js';
import type { ListenerDefinition } from './listener.js';

export const adminListener: ListenerDefinition = {
  name: 'http',
  configKey: 'httpPort',
  start: (context) =>
    startAdminServer({
      host: context.host,
      port: context.port,
      core: context.core,
      logger: context.logger,
      info: {
        version: context.version,
        startedAtMs: context.startedAtMs,
        listeners: () =>
          context.boundListeners().map((l) => ({ protocol: l.name, ip_address: l.host, port: l.port })),
      },
    }),
};

export const builtListeners: readonly ListenerDefinition[] = [adminListener];
