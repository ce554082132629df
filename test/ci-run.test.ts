/**
 * `.ci/run` decides which databases the suite runs on. It runs here as a copy in a temporary
 * folder, with npm, node, pg_isready and psql replaced by scripts that only write down how they
 * were called: nothing is installed and no suite runs.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROOT } from './helpers/process.ts';

interface Run {
  code: number | null;
  stderr: string;
  /** One line per faked command called: `npm ci …`, `npm test db=sqlite`, `pg_isready …`. */
  calls: string[];
}

async function ciRun(args: string[], postgres: 'up' | 'down'): Promise<Run> {
  const dir = await mkdtemp(path.join(tmpdir(), 'oidc-sspr-ci-'));
  try {
    const calls = path.join(dir, 'calls.log');
    await writeFile(calls, '');
    await mkdir(path.join(dir, '.ci'));
    await copyFile(path.join(ROOT, '.ci/run'), path.join(dir, '.ci/run'));
    const fake = async (file: string, body: string) => {
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, `#!/bin/sh\n${body}\n`);
      await chmod(file, 0o755);
    };
    const bin = path.join(dir, 'bin');
    await fake(path.join(bin, 'npm'), 'echo "npm $* db=${OIDC_SSPR_TEST_DB:-}" >> "$CALLS"');
    await fake(path.join(bin, 'pg_isready'), `echo "pg_isready $*" >> "$CALLS"; exit ${postgres === 'up' ? 0 : 2}`);
    await fake(path.join(bin, 'psql'), 'echo "psql $*" >> "$CALLS"');
    await fake(path.join(dir, 'node_modules/.bin/node'), 'echo "node $*" >> "$CALLS"');

    const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}`, CALLS: calls };
    // The copy must see only what it sets itself (this suite may itself run under .ci/run).
    for (const name of ['CI', 'OIDC_SSPR_TEST_DB', 'OIDC_SSPR_TEST_PG_URL', 'PGHOST', 'PGPORT', 'PGUSER']) delete env[name];
    const child = spawn('bash', [path.join(dir, '.ci/run'), ...args], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout.resume();
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    return { code, stderr, calls: (await readFile(calls, 'utf8')).split('\n').filter(Boolean) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const suites = (run: Run) => run.calls.filter((c) => c.startsWith('npm test'));

test('without PostgreSQL and without --sqlite-only it fails and says why, running no suite', async (t) => {
  const run = await ciRun([], 'down');
  t.is(run.code, 1);
  t.regex(run.stderr, /PostgreSQL is not reachable/);
  t.regex(run.stderr, /--sqlite-only/);
  t.deepEqual(suites(run), []);
});

test('--sqlite-only runs the SQLite suite alone and says PostgreSQL is not tested', async (t) => {
  const run = await ciRun(['--sqlite-only'], 'down');
  t.is(run.code, 0);
  t.regex(run.stderr, /PostgreSQL is NOT tested/);
  t.deepEqual(suites(run), ['npm test db=']);
  t.false(run.calls.some((c) => c.startsWith('psql')), 'no database is created');
});

test('with PostgreSQL it installs from the lockfile and runs the suite on both databases', async (t) => {
  const run = await ciRun([], 'up');
  t.is(run.code, 0, run.stderr);
  t.is(run.calls[0], 'npm ci --no-audit --no-fund db=');
  t.true(run.calls.includes('node test/support/ensure-debian.ts'));
  t.deepEqual(suites(run), ['npm test db=sqlite', 'npm test db=postgres']);
  t.true(run.calls.some((c) => /^psql .*CREATE DATABASE oidc_sspr_ci_/.test(c)));
  t.true(run.calls.some((c) => /^psql .*DROP DATABASE IF EXISTS oidc_sspr_ci_/.test(c)), 'the database is dropped afterwards');
});

test('an unknown argument is a usage error', async (t) => {
  const run = await ciRun(['--sqlite'], 'up');
  t.is(run.code, 2);
  t.regex(run.stderr, /usage: \.ci\/run \[--sqlite-only\]/);
  t.deepEqual(run.calls, []);
});
