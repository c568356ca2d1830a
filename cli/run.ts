/**
 * The management commands (everything but `start`, `help`, `version`, `policies` and `limits`): one
 * option table, one target (./client.ts), one way to print an answer and to fail.
 */
import { parseArgs } from 'node:util';
import { type Io, report, resolveTarget, type Target, targetOptions, UsageError } from './client.js';
import { group } from './groups.js';
import { type Answer, manageCommands, manageUsage, printAnswer, runManage } from './manage.js';
import { consume, get, publish } from './messages.js';
import { listings, objectCommands } from './objects.js';

export const clientUsage = [
  'switchyard status',
  `switchyard list <${Object.keys(listings).join('|')}> [--vhost V] [--filter REGEX] [--page N --page-size N]`,
  'switchyard declare queue <name> [--type classic|quorum|stream] [--durable false] [--auto-delete] [--arguments JSON]',
  'switchyard declare exchange <name> [--type direct|fanout|topic|headers] [--durable false] [--auto-delete] [--internal]',
  'switchyard declare binding --source X --destination Q [--destination-type queue|exchange] [--routing-key K]',
  'switchyard declare vhost <name>',
  'switchyard delete queue|exchange|vhost|connection <name> [--if-empty] [--if-unused] | delete binding …',
  'switchyard purge <queue>',
  'switchyard publish [--exchange X] [--routing-key K] [--file F | stdin] [--lines] [--property k=v]… [--header k=v]…',
  'switchyard get <queue> [--count N]                (looks; the messages stay)',
  'switchyard consume <queue> [--count N] [--wait S] (takes; the messages are gone)',
  'switchyard group describe <group>',
  'switchyard group reset-offsets <group> (--to-earliest|--to-latest|--to-datetime ISO|--shift-by N) [--topic T]… [--execute]',
  'switchyard bench mqtt|amqp|kafka|kubemq [--messages N] [--size BYTES] [--qos 0|1] [--window N] [--host H] [--port P]',
  manageUsage,
  '  every command: --url URL --user NAME --password PW --profile NAME --config FILE --json --vhost V',
  '  (or SWITCHYARD_URL, SWITCHYARD_USER, SWITCHYARD_PASSWORD, SWITCHYARD_PROFILE, SWITCHYARD_CLI_CONFIG;',
  '   profiles in ~/.config/switchyard/cli.yaml; defaults http://127.0.0.1:15672, guest/guest)',
  '  exit codes: 0 done, 1 failed, 2 usage, 3 broker unreachable, 4 login refused or not allowed,',
  '   5 no such object, 6 conflict (e.g. a group with members)',
].join('\n');

const optionSpec = {
  ...targetOptions,
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  vhost: { type: 'string' },
  filter: { type: 'string' },
  page: { type: 'string' },
  'page-size': { type: 'string' },
  type: { type: 'string' },
  durable: { type: 'string' },
  'auto-delete': { type: 'boolean' },
  internal: { type: 'boolean' },
  arguments: { type: 'string' },
  source: { type: 'string' },
  destination: { type: 'string' },
  'destination-type': { type: 'string' },
  'routing-key': { type: 'string' },
  'if-empty': { type: 'boolean' },
  'if-unused': { type: 'boolean' },
  exchange: { type: 'string' },
  file: { type: 'string' },
  property: { type: 'string', multiple: true },
  header: { type: 'string', multiple: true },
  lines: { type: 'boolean' },
  count: { type: 'string' },
  wait: { type: 'string' },
  'to-earliest': { type: 'boolean' },
  'to-latest': { type: 'boolean' },
  'to-datetime': { type: 'string' },
  'shift-by': { type: 'string' },
  topic: { type: 'string', multiple: true },
  execute: { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  host: { type: 'string' },
  port: { type: 'string' },
  messages: { type: 'string' },
  size: { type: 'string' },
  qos: { type: 'string' },
  window: { type: 'string' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof optionSpec; allowPositionals: true }>>['values'];

const clientCommands = new Set([
  ...manageCommands,
  'status',
  'list',
  'declare',
  'delete',
  'purge',
  'publish',
  'get',
  'consume',
  'group',
  'bench',
]);

/**
 * Whether `argv` is one of these commands; options may come first (`switchyard --profile prod list
 * queues`), so the first word that is not an option or an option's value decides.
 */
export function isClientCommand(argv: readonly string[]): boolean {
  const { positionals } = parseArgs({
    args: joinSigned(argv),
    options: optionSpec,
    allowPositionals: true,
    strict: false,
  });
  return positionals[0] !== undefined && clientCommands.has(positionals[0]);
}

async function answer(command: string, words: string[], o: Values, target: Target, io: Io): Promise<Answer> {
  switch (command) {
    case 'status':
      return objectCommands.status(target);
    case 'list':
      return objectCommands.list(target, words, o);
    case 'declare':
      return objectCommands.declare(target, words, o);
    case 'delete':
      return objectCommands.delete(target, words, o);
    case 'purge':
      return objectCommands.purge(target, words, o);
    case 'publish':
      return publish(target, words, o, io);
    case 'get':
      return get(target, words, o, io);
    case 'consume':
      return consume(target, words, o, io);
    case 'group':
      return group(target, words, o);
    case 'bench': {
      // The protocol login is the admin login, and the host the admin URL's, unless told otherwise.
      const host = o.host ?? new URL(target.url).hostname.replace(/^\[|\]$/g, '');
      // Loaded here: the protocol codecs cost every other command's start-up otherwise.
      const { bench } = await import('./bench.js');
      return bench(words, { ...o, host, user: target.user, password: target.password }, io);
    }
    default:
      return runManage(command, words, target);
  }
}

/** Options whose value may be a negative number, written as Kafka's tools take it (`--shift-by -1`). */
const signedOptions = new Set(['--shift-by']);

/** `--shift-by -1` as `--shift-by=-1`: parseArgs would read the `-1` as an option of its own. */
function joinSigned(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const next = argv[i + 1];
    if (signedOptions.has(arg) && next !== undefined && /^-\d+$/.test(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else out.push(arg);
  }
  return out;
}

/** Runs `switchyard <command> …`; returns the exit code. */
export async function runClient(argv: readonly string[], io: Io): Promise<number> {
  try {
    const { values, positionals } = parseArgs({
      args: joinSigned(argv),
      options: optionSpec,
      allowPositionals: true,
    });
    const [command, ...words] = positionals;
    if (values.help) {
      io.out(`${clientUsage}\n`);
      return 0;
    }
    if (command === undefined || !clientCommands.has(command))
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    const target = resolveTarget(values, io.env);
    printAnswer(await answer(command, words, values, target, io), values.json === true, io);
    return 0;
  } catch (err) {
    return report(err, io, clientUsage);
  }
}
