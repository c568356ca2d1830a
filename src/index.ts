/**
 * The package entry: `import { Broker } from 'switchyard'` runs the same broker as `switchyard start`,
 * in-process. Core's public types are re-exported for code that talks to `broker.core`.
 */

export { ConfigError } from './config/parse.js';
export type {
  Config,
  FsyncKind,
  LogLevel,
  Port,
  PortSetting,
  Setting,
  StorageKind,
} from './config/schema.js';
export { configDefault, settings } from './config/schema.js';
export type * from './core/api.js';
export type * from './core/types.js';
export type {
  BoundListener,
  ListenerContext,
  ListenerDefinition,
  RunningListener,
} from './protocols/listener.js';
export type { Authenticator, LoginResult } from './server/auth.js';
export { Broker, type BrokerOptions, type BrokerPorts } from './server/broker.js';
export { BrokerError, ErrorCode, isBrokerError } from './shared/errors.js';
export type { Logger } from './shared/logger.js';
