/** Runs external Kafka clients (kcat, python3 with confluent-kafka) without blocking the event loop. */
import { spawn } from 'node:child_process';

export interface ToolResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Spawns `command` (the in-process broker must keep running, so never spawnSync), bounded by `timeoutMs`. */
export function runTool(
  command: string,
  args: readonly string[],
  input = '',
  timeoutMs = 20_000,
): Promise<ToolResult> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: -1, stdout, stderr: String(err) });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

/** kcat reading `topic` from the beginning to its current end, one line per record in `format`. */
export function kcatRead(bootstrap: string, topic: string, format: string): Promise<ToolResult> {
  return runTool('kcat', ['-b', bootstrap, '-C', '-t', topic, '-o', 'beginning', '-e', '-q', '-f', format]);
}

/**
 * A python3 script for confluent-kafka (librdkafka): `setup` defines `conf`, the client settings (it
 * may read `sys.argv`); the script consumes `count` records of `topic` from the beginning in a group of
 * its own, for at most 20 s, and prints their values joined by commas.
 */
export function confluentConsumeScript(setup: string, topic: string, group: string, count: number): string {
  return `
import sys, time
from confluent_kafka import Consumer
${setup}
c = Consumer({**conf, 'group.id': ${JSON.stringify(group)}, 'auto.offset.reset': 'earliest'})
c.subscribe([${JSON.stringify(topic)}])
got = []
for _ in range(100):
    m = c.poll(0.2)
    if m is not None and m.error() is None:
        got.append(m.value().decode())
    if len(got) == ${count}:
        break
c.close()
print(','.join(got))
`;
}
