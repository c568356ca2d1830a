#!/usr/bin/env node
/**
 * The `switchyard` command. Thin on purpose: parsing and validation live in src/config, the broker in
 * src/server, management commands (an admin API client) in ./manage.ts; this file only picks the command.
 */
import { helpText } from '../src/config/help.js';
import { packageInfo } from '../src/config/package.js';
import { exitCode, runForeground } from '../src/server/foreground.js';
import { kafkaAclUsage, runKafkaAclCommand } from './kafka-acls.js';
import { manageCommands, manageUsage, runManage, UsageError } from './manage.js';
import { policyUsage, runPolicyCommand } from './policies.js';

const usage = `Usage: switchyard start [--flag value ...] | switchyard --help | switchyard --version\n${manageUsage}`;

/** A management command against a running broker's admin API (./manage.ts). */
async function manage(argv: readonly string[]): Promise<number> {
  try {
    await runManage(argv, process.env, (text) => process.stdout.write(text));
    return exitCode.ok;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`switchyard: ${message}\n`);
    if (err instanceof UsageError) process.stderr.write(`${manageUsage}\n`);
    return err instanceof UsageError ? exitCode.usage : exitCode.failed;
  }
}

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command !== undefined && manageCommands.has(command)) return manage(argv);
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
      return runPolicyCommand(command, rest, {
        env: process.env,
        out: (text) => process.stdout.write(text),
        err: (text) => process.stderr.write(text),
      });
    case 'kafka-acls':
      return runKafkaAclCommand(rest, {
        env: process.env,
        out: (text) => process.stdout.write(text),
        err: (text) => process.stderr.write(text),
      });
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(helpText());
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
