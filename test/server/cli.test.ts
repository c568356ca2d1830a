import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { packageInfo } from '../../src/config/package.js';
import { freePort, listenerFlags, onlyHttpFlags, runCli, startCli } from '../../testing/server-cli.js';
import { until } from '../../testing/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'switchyard-cli-'));

/** The broker holding `dataDir` (its lock names it), for cleaning up after a failed test. */
function brokerOf(dataDir: string): { kill(signal: NodeJS.Signals): void } | undefined {
  const lock = join(dataDir, 'LOCK');
  const pid = existsSync(lock) ? Number(readFileSync(lock, 'utf8')) : 0;
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  return {
    kill: (signal) => {
      try {
        process.kill(pid, signal);
      } catch {
        // Already gone: the broker stopped as it should.
      }
    },
  };
}

async function health(port: number): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/api/health`);
  await res.arrayBuffer();
  return res.status;
}

describe('switchyard commands', () => {
  test('--version prints the package version', async () => {
    const result = await runCli(['--version']);
    assert.equal(result.code, 0);
    assert.equal(result.stdout, `${packageInfo().version}\n`);
  });

  test('--help lists every flag and exits 0', async () => {
    const result = await runCli(['--help']);
    assert.equal(result.code, 0);
    for (const flag of ['--amqp-port', '--http-port', '--data-dir', '--config', '--fsync']) {
      assert.ok(result.stdout.includes(flag), flag);
    }
    // An empty default read `Default ;` (found walking the README as a new user).
    assert.doesNotMatch(result.stdout, /Default ;/);
    assert.match(
      result.stdout,
      /--tls-cert-file <string> .* Default \(none\); env SWITCHYARD_TLS_CERT_FILE\./,
    );
  });

  test('an unknown command prints usage on stderr and exits 2', async () => {
    const result = await runCli(['launch']);
    assert.equal(result.code, 2);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /unknown command "launch"/);
    assert.match(result.stderr, /Usage: switchyard start/);
  });

  test('bad flags, variables and files stop start with one stderr line and exit 2', async () => {
    const badFile = join(dir, 'bad.yaml');
    writeFileSync(badFile, 'httpPort: lots\n');
    const cases: Array<[string[], Record<string, string>, RegExp]> = [
      [['--amqp-port', '99999'], {}, /--amqp-port must be a port/],
      [['--no-such-flag', '1'], {}, /Unknown flag --no-such-flag/],
      [[], { SWITCHYARD_LOG_LEVEL: 'loud' }, /SWITCHYARD_LOG_LEVEL must be one of/],
      [['--config', badFile], {}, /bad\.yaml: httpPort must be a port/],
    ];
    for (const [args, env, pattern] of cases) {
      const result = await runCli(['start', ...args], { env });
      assert.equal(result.code, 2, `exit code for ${args.join(' ')}`);
      assert.equal(result.stdout, '');
      const lines = result.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 1, `one line: ${result.stderr}`);
      assert.match(lines[0]!, pattern);
    }
  });
});

describe('switchyard start', () => {
  test('config precedence reaches the listener: file < env < flag', async () => {
    // A port found free may be taken by another program before the broker binds it (the suite runs
    // files in parallel, each binding port 0): then the whole check runs again on fresh ports.
    for (let attempt = 1; ; attempt++) {
      try {
        return await checkPrecedence();
      } catch (err) {
        if (attempt >= 3 || !/EADDRINUSE/.test(String(err))) throw err;
      }
    }
  });

  test('start prints one ready line, answers health, and SIGTERM exits 0', async () => {
    const broker = await startCli([
      '--storage',
      'memory',
      ...listenerFlags({ amqp: await freePort(), grpc: await freePort(), http: 'auto' }),
    ]);
    let stopped = false;
    try {
      assert.match(broker.readyLine, /^switchyard ready (?=.*\bamqp=\d+)(?=.*\bhttp=\d+).*$/);
      assert.equal(await health(broker.ports.http!), 200);
      assert.match(broker.readyLine, /\bgrpc=\d+/, 'the KubeMQ gRPC listener is built');
      assert.doesNotMatch(broker.stderr(), /not built yet/);
      const result = await broker.stop('SIGTERM');
      stopped = true;
      assert.equal(result.code, 0);
      assert.equal(result.stdout.split('\n').filter((l) => l.includes('ready')).length, 1);
    } finally {
      if (!stopped) broker.kill();
    }
  });

  test('SIGINT also exits 0, and the data dir is reusable after a clean stop', async () => {
    const dataDir = join(dir, 'data');
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const broker = await startCli(['--data-dir', dataDir, ...onlyHttpFlags('auto')]);
      try {
        assert.equal(await health(broker.ports.http!), 200);
      } finally {
        assert.equal((await broker.stop(signal)).code, 0, `exit after ${signal}`);
      }
      assert.ok(existsSync(dataDir), 'data dir created');
    }
  });

  test('SIGTERM to `npm start` stops the broker, not only npm (README: "Stop it with … SIGTERM")', async () => {
    // The script's shell did not pass npm's SIGTERM on: npm ended and the broker ran on, holding its
    // ports and data folder (found walking the README as a new user). `exec` makes the broker the shell.
    const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-npm-start-'));
    const npm = spawn('npm', ['start', '--', '--data-dir', dataDir, ...onlyHttpFlags('auto')], {
      cwd: packageInfo().root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    npm.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    npm.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    try {
      await until(
        () => /switchyard ready .*\bhttp=\d+/.test(stdout),
        60_000,
        () => `ready line in ${stdout}`,
      );
      const port = Number(/\bhttp=(\d+)/.exec(stdout)?.[1]);
      assert.equal(await health(port), 200);
      npm.kill('SIGTERM');
      await until(
        () => stderr.includes('"msg":"stopped"'),
        15_000,
        () => `the broker stopped: ${stderr}`,
      );
      await assert.rejects(health(port), 'the broker no longer listens');
    } finally {
      npm.kill('SIGKILL');
      brokerOf(dataDir)?.kill('SIGKILL');
    }
  });

  test('start without write access to the data dir fails with exit 1, not a hang', async () => {
    const blocker = join(dir, 'not-a-dir');
    writeFileSync(blocker, 'x');
    const result = await runCli(['start', '--data-dir', join(blocker, 'data'), ...onlyHttpFlags('auto')]);
    assert.equal(result.code, 1);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /cannot start/);
    assert.equal(readFileSync(blocker, 'utf8'), 'x');
  });
});

async function checkPrecedence(): Promise<void> {
  const [fromFile, fromEnv, fromFlag] = [await freePort(), await freePort(), await freePort()];
  const path = join(dir, 'switchyard.yaml');
  writeFileSync(path, `httpPort: ${fromFile}\nstorage: memory\nlogLevel: warn\n`);
  const off = onlyHttpFlags('auto').slice(0, -2);
  const runs: Array<[string[], Record<string, string>, number]> = [
    [['--config', path, ...off], {}, fromFile],
    [['--config', path, ...off], { SWITCHYARD_HTTP_PORT: String(fromEnv) }, fromEnv],
    [
      ['--config', path, ...off, '--http-port', String(fromFlag)],
      { SWITCHYARD_HTTP_PORT: String(fromEnv) },
      fromFlag,
    ],
  ];
  for (const [args, env, expected] of runs) {
    const broker = await startCli(args, { env });
    try {
      assert.equal(broker.ports.http, expected);
      assert.equal(await health(expected), 200);
    } finally {
      assert.equal((await broker.stop()).code, 0);
    }
  }
}
