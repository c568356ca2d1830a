#!/usr/bin/env node
/**
 * The `switchyard` command. Thin on purpose: parsing and validation live in src/config, the broker in
 * src/server, the management commands (an admin API client that imports nothing of the broker but
 * `bench`'s codec) in ./run.ts and ./policies.ts; this file only picks the command. Each command's
 * modules are loaded when it runs: a management command starts without loading the broker, and the
 * broker without the clients.
 */
import { helpText } from '../src/config/help.js';
import { packageInfo } from '../src/config/package.js';

const exitCode = { ok: 0, usage: 2 } as const;

const usage = (clientUsage: string) =>
  `Usage: switchyard start [--flag value ...] | switchyard --help | switchyard --version\n${clientUsage}`;

async function otherUsages(): Promise<string> {
  const [{ policyUsage }, { kafkaAclUsage }] = await Promise.all([
    import('./policies.js'),
    import('./kafka-acls.js'),
  ]);
  return `${policyUsage}\n${kafkaAclUsage}`;
}

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'start') return start(rest);
  if (command === 'version' || command === '--version' || command === '-v') {
    process.stdout.write(`${packageInfo().version}\n`);
    return exitCode.ok;
  }
  const { clientUsage, isClientCommand, runClient } = await import('./run.js');
  const { processIo } = await import('./client.js');
  if (command !== '--help' && isClientCommand(argv)) return runClient(argv, processIo());
  switch (command) {
    case 'policies':
    case 'operator-policies':
    case 'limits':
      return (await import('./policies.js')).runPolicyCommand(command, rest, processIo());
    case 'kafka-acls':
      return (await import('./kafka-acls.js')).runKafkaAclCommand(rest, processIo());
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(helpText());
      process.stdout.write(`\n${usage(clientUsage)}\n${await otherUsages()}\n`);
      return exitCode.ok;
    default:
      process.stderr.write(
        command === undefined
          ? `${usage(clientUsage)}\n${await otherUsages()}\n`
          : `switchyard: unknown command ${JSON.stringify(command)}\n${usage(clientUsage)}\n`,
      );
      return exitCode.usage;
  }
}

async function start(args: readonly string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(helpText());
    return exitCode.ok;
  }
  // Before the broker's modules load: they are what would grow V8's young generation.
  const { holdYoungGeneration } = await import('../src/server/idle-heap.js');
  holdYoungGeneration();
  const { runForeground } = await import('../src/server/foreground.js');
  return runForeground({ args, env: process.env, cwd: process.cwd() });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`switchyard: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
