/**
 * Checking one setting's value. Values from flags and the environment arrive as text; values from a
 * config file or the embedding API arrive typed and must already have the right JSON type, so a
 * quoted `"5672"` in YAML is refused rather than guessed at.
 */
import { amqpMechanisms, type Config, jwtAlgorithmNames, type Setting, type SettingType } from './schema.js';

/** A configuration mistake; the CLI prints its message as one line and exits with code 2. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export type ValueOrigin = 'text' | 'typed';

type Parsed = { ok: true; value: unknown } | { ok: false };

const portMax = 65_535;

export function expectedText(type: SettingType): string {
  switch (type.kind) {
    case 'port':
      return `a port from 0 to ${portMax} (0 turns it off) or "auto"`;
    case 'integer':
      return `an integer from ${type.min} to ${type.max}`;
    case 'string':
      return `text of ${type.lengthMin} to ${type.lengthMax} characters`;
    case 'enum':
      return `one of ${type.values.join(', ')}`;
    case 'list':
      return `a list of at most ${type.itemsMax} names`;
    case 'boolean':
      return 'true or false';
  }
}

function parseInteger(raw: unknown, origin: ValueOrigin, min: number, max: number): Parsed {
  let value = raw;
  if (origin === 'text') {
    if (typeof raw !== 'string' || !/^-?\d{1,16}$/.test(raw)) return { ok: false };
    value = Number(raw);
  }
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    return { ok: false };
  }
  return { ok: true, value };
}

function parseList(raw: unknown, origin: ValueOrigin, itemsMax: number, itemLengthMax: number): Parsed {
  let items = raw;
  if (origin === 'text') {
    if (typeof raw !== 'string') return { ok: false };
    items = raw
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item !== '');
  }
  if (!Array.isArray(items) || items.length > itemsMax) return { ok: false };
  const valid = items.every(
    (item) => typeof item === 'string' && item.length > 0 && item.length <= itemLengthMax,
  );
  return valid ? { ok: true, value: [...items] } : { ok: false };
}

/** Text is exactly `true` or `false`; files and the embedding API give real booleans. */
function parseBoolean(raw: unknown, origin: ValueOrigin): Parsed {
  if (origin === 'text') {
    return raw === 'true' || raw === 'false' ? { ok: true, value: raw === 'true' } : { ok: false };
  }
  return typeof raw === 'boolean' ? { ok: true, value: raw } : { ok: false };
}

function parseByType(type: SettingType, raw: unknown, origin: ValueOrigin): Parsed {
  switch (type.kind) {
    case 'port':
      if (raw === 'auto') return { ok: true, value: 'auto' };
      return parseInteger(raw, origin, 0, portMax);
    case 'integer':
      return parseInteger(raw, origin, type.min, type.max);
    case 'string': {
      const fits = typeof raw === 'string' && raw.length >= type.lengthMin && raw.length <= type.lengthMax;
      return fits ? { ok: true, value: raw } : { ok: false };
    }
    case 'enum':
      return typeof raw === 'string' && type.values.includes(raw) ? { ok: true, value: raw } : { ok: false };
    case 'list':
      return parseList(raw, origin, type.itemsMax, type.itemLengthMax);
    case 'boolean':
      return parseBoolean(raw, origin);
  }
}

function show(raw: unknown, secret: boolean): string {
  if (secret) return 'a value that does not fit';
  const shown = typeof raw === 'string' ? JSON.stringify(raw) : (JSON.stringify(raw) ?? String(raw));
  return shown.length > 60 ? `${shown.slice(0, 57)}...` : shown;
}

/** Parses one value; `where` names its source in the error (`--amqp-port`, `switchyard.yaml: amqpPort`). */
export function parseSetting(setting: Setting, raw: unknown, origin: ValueOrigin, where: string): unknown {
  const parsed = parseByType(setting.type, raw, origin);
  if (parsed.ok) return parsed.value;
  const got = show(raw, setting.secret === true);
  throw new ConfigError(`${where} must be ${expectedText(setting.type)}, got ${got}`);
}

/** Rules that span settings, checked once every source is merged; `portNames` are the ports in force. */
export function checkConfig(config: Config, portNames: readonly (keyof Config)[]): void {
  const owners = new Map<number, string>();
  for (const name of portNames) {
    const port = config[name];
    if (typeof port !== 'number' || port === 0) continue;
    const other = owners.get(port);
    if (other !== undefined) throw new ConfigError(`${other} and ${name} both use port ${port}`);
    owners.set(port, name);
  }
  checkTls(config);
  checkLogins(config);
}

/** A `jwtKeys` entry: `<kid>=<file>`; undefined when it is not one. */
export function jwtKeyEntry(entry: string): { kid: string; file: string } | undefined {
  const eq = entry.indexOf('=');
  if (eq <= 0 || eq === entry.length - 1) return undefined;
  return { kid: entry.slice(0, eq).trim(), file: entry.slice(eq + 1).trim() };
}

function checkLogins(config: Config): void {
  for (const name of config.jwtAlgorithms) {
    if (!(jwtAlgorithmNames as readonly string[]).includes(name)) {
      throw new ConfigError(
        `jwtAlgorithms: ${JSON.stringify(name)} is not one of ${jwtAlgorithmNames.join(', ')} (\`none\` is never accepted)`,
      );
    }
  }
  const kids = new Set<string>();
  for (const entry of config.jwtKeys) {
    const key = jwtKeyEntry(entry);
    if (key === undefined || key.kid === '' || key.file === '')
      throw new ConfigError(`jwtKeys: ${JSON.stringify(entry)} is not <kid>=<file>`);
    if (kids.has(key.kid))
      throw new ConfigError(`jwtKeys: the kid ${JSON.stringify(key.kid)} is given twice`);
    kids.add(key.kid);
  }
  for (const name of config.amqpAuthMechanisms) {
    if (!(amqpMechanisms as readonly string[]).includes(name))
      throw new ConfigError(
        `amqpAuthMechanisms: ${JSON.stringify(name)} is not one of ${amqpMechanisms.join(', ')}`,
      );
  }
}

function checkTls(config: Config): void {
  const cert = config.tlsCertFile !== '';
  if (cert !== (config.tlsKeyFile !== '')) {
    throw new ConfigError('tlsCertFile and tlsKeyFile must be given together');
  }
  if (config.tlsClientAuth !== 'none' && (!cert || config.tlsCaFile === '')) {
    throw new ConfigError(
      `tlsClientAuth ${config.tlsClientAuth} needs tlsCertFile, tlsKeyFile and tlsCaFile (the CA client certificates chain to)`,
    );
  }
}
