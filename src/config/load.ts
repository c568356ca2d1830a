/**
 * The loader: defaults < config file < environment < flags, each layer checked against the schema as
 * it is read so an error names the exact source of the bad value. Unknown keys, variables and flags
 * are errors too: a typo must not silently leave a default in place.
 */
import { readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { ConfigError, checkConfig, parseSetting } from './parse.js';
import {
  type Config,
  configDefault,
  configFileEnv,
  configFileFlag,
  portsInForce,
  type Setting,
  settingByName,
  settings,
} from './schema.js';

export interface LoadInput {
  /** Arguments after the command, e.g. `['--amqp-port', '5673']`. */
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Base for a relative config file path. */
  readonly cwd: string;
}

const configFileBytesMax = 1024 * 1024;
const envPrefix = 'SWITCHYARD_';

type Layer = Partial<Record<keyof Config, unknown>>;

function squash(name: string): string {
  return name.replace(/[-_]/g, '').toLowerCase();
}

/** Finds the setting a mistyped key was probably meant to be, for the error message. */
function suggestion(key: string, spell: (s: Setting) => string): string {
  const bare = squash(key.replace(/^--/, '').replace(/^SWITCHYARD_/, ''));
  const match = settings.find((s) => squash(s.name) === bare);
  return match === undefined ? '' : ` (did you mean ${spell(match)}?)`;
}

function readFlags(args: readonly string[]): { layer: Layer; configPath?: string } {
  const layer: Layer = {};
  let configPath: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith('--')) throw new ConfigError(`Unexpected argument ${JSON.stringify(arg)}`);
    const equals = arg.indexOf('=');
    const flag = equals === -1 ? arg : arg.slice(0, equals);
    let value = equals === -1 ? undefined : arg.slice(equals + 1);
    if (value === undefined) {
      const next = args[i + 1];
      if (next === undefined || next.startsWith('--')) throw new ConfigError(`Flag ${flag} needs a value`);
      value = next;
      i++;
    }
    if (flag === configFileFlag) {
      configPath = value;
      continue;
    }
    const setting = settings.find((s) => s.flag === flag);
    if (setting === undefined)
      throw new ConfigError(`Unknown flag ${flag}${suggestion(flag, (s) => s.flag)}`);
    layer[setting.name] = parseSetting(setting, value, 'text', flag);
  }
  return configPath === undefined ? { layer } : { layer, configPath };
}

/**
 * Variables of the `switchyard` client commands (cli/client.ts): an operator who exports them for
 * `switchyard list …` can still run `switchyard start` in the same shell.
 */
const clientEnv: ReadonlySet<string> = new Set([
  'SWITCHYARD_URL',
  'SWITCHYARD_USER',
  'SWITCHYARD_PASSWORD',
  'SWITCHYARD_PROFILE',
  'SWITCHYARD_CLI_CONFIG',
]);

function readEnv(env: LoadInput['env']): Layer {
  const layer: Layer = {};
  for (const [key, value] of Object.entries(env)) {
    if (!key.startsWith(envPrefix) || key === configFileEnv || clientEnv.has(key)) continue;
    // An empty variable counts as unset, as `VAR= switchyard start` is how shells clear one.
    if (value === undefined || value === '') continue;
    const setting = settings.find((s) => s.env === key);
    if (setting === undefined) {
      throw new ConfigError(`Unknown environment variable ${key}${suggestion(key, (s) => s.env)}`);
    }
    layer[setting.name] = parseSetting(setting, value, 'text', key);
  }
  return layer;
}

/**
 * The YAML parser, loaded with the first config file (yaml is a CommonJS package: `require` loads it in
 * the middle of this synchronous read). A broker started from flags and environment never loads it.
 */
function parseYaml(source: string): unknown {
  const yaml = createRequire(import.meta.url)('yaml') as typeof import('yaml');
  return yaml.parse(source);
}

function readConfigFile(path: string): Layer {
  let source: string;
  try {
    if (statSync(path).size > configFileBytesMax) {
      throw new ConfigError(`Config file ${path} is larger than ${configFileBytesMax} bytes`);
    }
    source = readFileSync(path, 'utf8');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`Cannot read config file ${path}: ${(err as Error).message}`);
  }
  let document: unknown;
  try {
    // YAML 1.2 is a superset of JSON, so one parser reads both formats.
    document = parseYaml(source);
  } catch (err) {
    const firstLine = (err as Error).message.split('\n')[0];
    throw new ConfigError(`Config file ${path} is not valid YAML or JSON: ${firstLine}`);
  }
  return readTypedLayer(document ?? {}, `Config file ${path}`);
}

/** Checks an object of typed values (a config file, or the embedding API's options). */
function readTypedLayer(document: unknown, where: string): Layer {
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new ConfigError(`${where} must be a mapping of setting names to values`);
  }
  const layer: Layer = {};
  for (const [key, value] of Object.entries(document)) {
    const setting = settingByName.get(key);
    if (setting === undefined) {
      throw new ConfigError(`${where}: unknown setting ${key}${suggestion(key, (s) => s.name)}`);
    }
    if (value === undefined) continue;
    layer[setting.name] = parseSetting(setting, value, 'typed', `${where}: ${key}`);
  }
  return layer;
}

function merge(...layers: Layer[]): Config {
  const config = { ...configDefault, loopbackOnlyUsers: [...configDefault.loopbackOnlyUsers] };
  for (const layer of layers) Object.assign(config, layer);
  checkConfig(config, portsInForce(config));
  return config;
}

/** Reads flags, environment and the config file; throws `ConfigError` on the first mistake. */
export function loadConfig(input: LoadInput): Config {
  const flags = readFlags(input.args);
  const envLayer = readEnv(input.env);
  const fileName = flags.configPath ?? input.env[configFileEnv];
  const fileLayer = fileName ? readConfigFile(resolve(input.cwd, fileName)) : {};
  return merge(fileLayer, envLayer, flags.layer);
}

/** Defaults overlaid with typed values, checked like a config file. */
export function resolveConfig(partial: Partial<Config>, where = 'Broker option'): Config {
  return merge(readTypedLayer(partial, where));
}
