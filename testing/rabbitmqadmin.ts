/**
 * Debian's rabbitmqadmin (package rabbitmq-server), unchanged, for conformance tests of the management
 * API: whether it is installed, and a run of it that does not block the broker in the same process.
 */
import { execFile, spawnSync } from 'node:child_process';

export const rabbitmqadminMissing =
  spawnSync('rabbitmqadmin', ['--version'], { stdio: 'ignore', timeout: 10_000 }).error !== undefined;

export const rabbitmqadminSkip =
  rabbitmqadminMissing && 'rabbitmqadmin is not installed (Debian package rabbitmq-server)';

/** Runs rabbitmqadmin against the HTTP port `port` on loopback. */
export function rabbitmqadmin(
  port: number,
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'rabbitmqadmin',
      ['-H', '127.0.0.1', '-P', String(port), ...args],
      { timeout: 30_000 },
      (err, stdout, stderr) =>
        resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr }),
    );
  });
}
