/**
 * The configured default user. Core seeds `guest`/`guest` with full permissions on `/` into a fresh
 * store, as RabbitMQ does; when the config names another default user or password, the server applies
 * it once, on the first start of a data dir (a flag in core's definitions records that), so later
 * edits to the file never overwrite users managed since. The default user keeps full permissions on `/`.
 */
import type { Config } from '../config/schema.js';
import type { CoreBroker } from '../core/api.js';
import { internalContext } from '../core/entry/context.js';
import { fullPermission } from '../core/permissions.js';
import type { Logger } from '../shared/logger.js';
import { isLoopback } from './auth.js';

const seededUser = 'guest';
const seededPass = 'guest';

export async function applyDefaultUser(
  broker: CoreBroker,
  config: Pick<Config, 'defaultUser' | 'defaultPass'>,
): Promise<void> {
  const core = broker.connect(internalContext('/', 'server'));
  if (core.defaultUserApplied()) return;
  const { defaultUser, defaultPass } = config;
  if (defaultUser !== seededUser || defaultPass !== seededPass) {
    await core.putUser(defaultUser, defaultPass, ['administrator']);
    await core.setPermission('/', defaultUser, fullPermission);
    // Only the seeded guest goes; a store that already had other users keeps them all.
    const onlySeeded = core.userNames().every((name) => name === seededUser || name === defaultUser);
    if (defaultUser !== seededUser && onlySeeded && (await core.verifyUser(seededUser, seededPass))) {
      await core.deleteUser(seededUser);
    }
  }
  await core.markDefaultUserApplied();
}

/**
 * A broker reachable from other hosts while a user still has the well-known password `guest` (the
 * seeded user, or a default user configured with it) gets a warning at start. Users in
 * `loopbackOnlyUsers` are refused from other addresses anyway, so the warning says whether they are.
 */
export async function warnDefaultPassword(
  broker: CoreBroker,
  config: Pick<Config, 'host' | 'defaultUser' | 'loopbackOnlyUsers'>,
  logger: Logger,
): Promise<void> {
  if (isLoopback(config.host)) return;
  const core = broker.connect(internalContext('/', 'server'));
  for (const user of new Set([seededUser, config.defaultUser])) {
    if (!(await core.verifyUser(user, seededPass))) continue;
    const loopbackOnly = config.loopbackOnlyUsers.includes(user);
    logger.warn(
      { user, host: config.host, loopbackOnly },
      `user '${user}' has the default password and the broker listens on ${config.host}; change it ` +
        '(PUT /api/users/<name>, or switchyard users set-password)',
    );
  }
}
