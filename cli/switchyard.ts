#!/usr/bin/env node
/**
 * The `switchyard` command. Thin on purpose: parsing and validation live in src/config, the broker in
 * src/server, the management commands (an admin API client that imports nothing of the broker but
 * `bench`'s codec) in ./run.ts and ./policies.ts; this file only picks the command.
 */
import { helpText } from '../src/config/help.js';
import { packageInfo } from '../src/config/package.js';
import { exitCode, runForeground } from '../src/server/foreground.js';
import { processIo } from './client.js';
import { kafkaAclUsage, runKafkaAclCommand } from './kafka-acls.js';
import { policyUsage, runPolicyCommand } from './policies.js';
import { clientUsage, isClientCommand, runClient } from './run.js';

const usage = `Usage: switchyard start [--flag value ...] | switchyard --help | switchyard --version\n${clientUsage}`;

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command !== 'start' && command !== '--help' && isClientCommand(argv))
    return runClient(argv, processIo());
  switch (command) {
    case 'start':
      if (rest.includes('--help') || rest.includes('-h')) {
        process.stdout.write(helpText());
        return exitCode.ok;
      }
      return runForeground({ args: rest, env: process.env, cwd: process.cwd() });
    case 'policies':
    case 'operator-policies':
    case 'limits':
      return runPolicyCommand(command, rest, processIo());
    case 'kafka-acls':
      return runKafkaAclCommand(rest, processIo());
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(helpText());
      process.stdout.write(`\n${usage}\n${policyUsage}\n${kafkaAclUsage}\n`);
      return exitCode.ok;
    case 'version':
    case '--version':
    case '-v':
      process.stdout.write(`${packageInfo().version}\n`);
      return exitCode.ok;
    default:
      process.stderr.write(
        command === undefined
          ? `${usage}\n${policyUsage}\n${kafkaAclUsage}\n`
          : `switchyard: unknown command ${JSON.stringify(command)}\n${usage}\n`,
      );
      return exitCode.usage;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`switchyard: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(exitCode.failed);
  },
);
