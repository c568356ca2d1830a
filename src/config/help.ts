/** The `switchyard --help` text, derived from the schema like docs/config.md. */
import { defaultText } from './docs.js';
import { expectedText } from './parse.js';
import { configFileEnv, configFileFlag, type Setting, settings } from './schema.js';

function line(setting: Setting): string {
  const flag = `${setting.flag} <${setting.type.kind === 'enum' ? setting.type.values.join('|') : setting.type.kind}>`;
  return `  ${flag.padEnd(40)} ${setting.description} Default ${setting.secret ? '(hidden)' : defaultText(setting)}; env ${setting.env}.`;
}

export function helpText(): string {
  const head = [
    'switchyard: one message broker for AMQP 0-9-1, MQTT, Kafka and KubeMQ clients',
    '',
    'Usage:',
    '  switchyard start [flags]   run the broker in the foreground (SIGTERM or SIGINT stops it)',
    '  switchyard --help          show this text',
    '  switchyard --version       print the version',
    '',
    'Flags for start (later sources win: defaults < config file < environment < flags):',
    `  ${`${configFileFlag} <path>`.padEnd(40)} YAML or JSON config file; env ${configFileEnv}.`,
  ];
  const notes = [
    '',
    `Ports: 0 turns a listener off, "auto" picks a free port. ${expectedText({ kind: 'port' })}.`,
  ];
  return `${[...head, ...settings.map(line), ...notes].join('\n')}\n`;
}
