/**
 * Renders docs/config.md from the schema. `test/server/config-docs.test.ts` fails when the committed
 * page differs; regenerate with `node dist/src/config/write-docs.js`.
 */
import { expectedText } from './parse.js';
import { configFileEnv, configFileFlag, type Setting, settings } from './schema.js';

/** A setting's default as text; an empty one is `(none)` rather than nothing (an empty code span, `Default ;`). */
export function defaultText(setting: Setting): string {
  const value = Array.isArray(setting.default) ? setting.default.join(',') : String(setting.default);
  return value === '' ? '(none)' : value;
}

function showDefault(setting: Setting): string {
  const text = defaultText(setting);
  return text === '(none)' ? text : `\`${text}\``;
}

function row(setting: Setting): string {
  const cells = [
    `\`${setting.name}\``,
    `\`${setting.flag}\``,
    `\`${setting.env}\``,
    showDefault(setting),
    expectedText(setting.type),
    setting.description,
  ];
  return `| ${cells.join(' | ')} |`;
}

const intro = `# Configuration reference

<!-- Generated from src/config/schema.ts by src/config/docs.ts; do not edit by hand. -->

Every setting can be given in four places; a later one wins:

1. the built-in default;
2. a config file, \`${configFileFlag} switchyard.yaml\` (or \`${configFileEnv}\`), YAML or JSON, a flat
   mapping of setting names to values (\`amqpPort: 5673\`);
3. an environment variable, \`SWITCHYARD_\` plus the name in upper snake case (\`SWITCHYARD_AMQP_PORT=5673\`);
   an empty variable counts as unset;
4. a flag, the name in kebab case (\`--amqp-port 5673\` or \`--amqp-port=5673\`).

Values are checked when the broker starts. An unknown setting, flag or \`SWITCHYARD_\` variable, or a value
of the wrong type or out of range, stops it with one line on stderr and exit code 2. In a config file values
must have their real type: \`amqpPort: "5673"\` is refused. Lists are comma separated in flags and variables.

A port of \`0\` turns that listener off; \`auto\` lets the operating system pick a free port (the bound
port is printed on the ready line and is in \`Broker.ports\`). A listener whose protocol is not built yet
logs one line and is skipped.
`;

export function renderConfigDocs(): string {
  const groups = [...new Set(settings.map((s) => s.group))];
  const sections = groups.map((group) => {
    const rows = settings.filter((s) => s.group === group).map(row);
    return [
      `## ${group}`,
      '',
      '| setting | flag | environment | default | accepts | meaning |',
      '| --- | --- | --- | --- | --- | --- |',
      ...rows,
    ].join('\n');
  });
  return `${intro}\n${sections.join('\n\n')}\n`;
}
