/**
 * Login benchmark (`npm run bench`): figures, not a test.
 *
 * Starts the real server (`src/server.ts`) as one or more child processes on one database (SQLite
 * or PostgreSQL) seeded with N users, then a real relying party (openid-client, through the test
 * browser) runs whole code flows — authorize, sign-in page, credentials, callback, code redeemed at
 * the token endpoint with PKCE, id_token checked — at a few concurrency levels, login n going to
 * instance n mod N (round-robin). In the same run, with the servers idle, it measures argon2id
 * verifications per second alone, with the same parameters and at the same levels.
 *
 * Per scenario it prints logins/s, p50/p99, CPU per login, the servers' peak RSS, and the ratio
 * best logins/s ÷ best verifies/s; optionally resets per second (start → email code → new password,
 * codes read from the outbox), peak RSS with M logins in flight at once, the time of
 * `report registration` and `report resets`, and on PostgreSQL the plans (EXPLAIN ANALYZE) of the
 * statements one login and one reset run. `--mfa` makes every login prove an emailed code after
 * the password (mfa.require: all). `--suite` runs the scenarios of the README's table in one
 * go and prints them side by side. Results also go to test/output/bench-<timestamp>.json.
 *
 * Users are seeded in bulk with one precomputed hash and kept between runs (test/output/bench-cache/
 * for SQLite, schema bench_u<N>_… for PostgreSQL). SSPR applies to everyone (email registered), with
 * CAPTCHA off and the per-IP limits raised: the relying party is one IP address.
 *
 *   npm run bench -- [--db sqlite|postgres] [--pg-url URL] [--rp-client http|fetch] [--instances 1] [--users 1000]
 *                    [--levels 1,2,4,8] [--seconds 5] [--rounds 2] [--preset default|keycloak]
 *                    [--memory KiB] [--time T] [--parallelism P] [--reset-seconds 0]
 *                    [--rss-concurrency 0] [--reports] [--explain] [--mfa] [--suite] [--suite-users 1000000]
 *                    [--node-env production] [--cpu-prof DIR] [--server-node-option OPT]...
 *
 * The relying party's HTTP client is node:http with keep-alive (`--rp-client http`, the default) or
 * undici's fetch (`--rp-client fetch`): it runs on the same CPUs as the server, and fetch costs it
 * about five times as much CPU per request.
 *
 * Only 127.0.0.1 is contacted. Servers are stopped and temp dirs removed on every exit path.
 */
import { mkdtempSync, rmSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Argon2Params } from '../../src/security/password.ts';
import { root, onExit, runCleanups } from './lib/servers.ts';
import { round } from './lib/measure.ts';
import { runScenario, type Scenario, type ScenarioResult } from './lib/scenario.ts';

const PRESETS: Record<string, Argon2Params> = {
  // The IdP's default (OWASP's first choice).
  default: { memoryCost: 19456, timeCost: 2, parallelism: 1 },
  // Keycloak's sizing guide measures its 15 logins/s per vCPU with these.
  keycloak: { memoryCost: 7168, timeCost: 5, parallelism: 1 },
};

function usage(message?: string): never {
  if (message) process.stderr.write(`${message}\n`);
  process.stderr.write(
    'usage: npm run bench -- [--db sqlite|postgres] [--pg-url URL] [--rp-client http|fetch] [--instances N] [--users N] [--levels 1,2,4,8] [--seconds 5] [--rounds 2] ' +
      '[--preset default|keycloak] [--memory KiB] [--time T] [--parallelism P] [--reset-seconds S] [--rss-concurrency M] [--reports] [--explain] [--mfa] ' +
      '[--suite] [--suite-users N] [--node-env production] [--cpu-prof DIR] [--server-node-option OPT]...\n',
  );
  process.exit(2);
}

function integer(name: string, value: string | undefined, def: number, min: number, max: number): number {
  if (value === undefined) return def;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) usage(`--${name} must be an integer from ${min} to ${max}`);
  return n;
}

/** parseArgs options of one type, by name. */
function optionsOfType<const T extends 'string' | 'boolean', const N extends string>(type: T, names: readonly N[]): Record<N, { type: T }> {
  return Object.fromEntries(names.map((name) => [name, { type }])) as Record<N, { type: T }>;
}

function options() {
  let parsed;
  try {
    parsed = parseArgs({
      options: {
        ...optionsOfType('string', ['db', 'pg-url', 'rp-client', 'instances', 'users', 'levels', 'seconds', 'rounds', 'preset', 'memory', 'time', 'parallelism', 'reset-seconds', 'rss-concurrency', 'suite-users', 'node-env', 'cpu-prof']),
        ...optionsOfType('boolean', ['reports', 'explain', 'suite', 'mfa']),
        'server-node-option': { type: 'string', multiple: true },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    });
  } catch (error) {
    usage((error as Error).message);
  }
  const v = parsed.values;
  if (v.help) usage();
  const db = v.db ?? 'sqlite';
  if (db !== 'sqlite' && db !== 'postgres') usage('--db must be sqlite or postgres');
  const presetName = v.preset ?? 'default';
  const preset = PRESETS[presetName];
  if (!preset) usage(`--preset must be one of ${Object.keys(PRESETS).join(', ')}`);
  const rpClient = v['rp-client'] ?? 'http';
  if (rpClient !== 'http' && rpClient !== 'fetch') usage('--rp-client must be http or fetch');
  const levels = (v.levels ?? '1,2,4,8').split(',').map((s) => integer('levels', s.trim(), 1, 1, 256));
  return {
    db: db as 'sqlite' | 'postgres',
    pgUrl: v['pg-url'] ?? process.env.OIDC_SSPR_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    rpClient: rpClient as 'http' | 'fetch',
    instances: integer('instances', v.instances, 1, 1, 8),
    users: integer('users', v.users, 1000, 1, 1_000_000),
    levels,
    seconds: integer('seconds', v.seconds, 5, 1, 600),
    rounds: integer('rounds', v.rounds, 2, 1, 100),
    preset: presetName,
    argon2: {
      memoryCost: integer('memory', v.memory, preset.memoryCost, 7168, 1048576),
      timeCost: integer('time', v.time, preset.timeCost, 1, 20),
      parallelism: integer('parallelism', v.parallelism, preset.parallelism, 1, 16),
    } satisfies Argon2Params,
    resetSeconds: integer('reset-seconds', v['reset-seconds'], 0, 0, 600),
    rssConcurrency: integer('rss-concurrency', v['rss-concurrency'], 0, 0, 1000),
    reports: v.reports ?? false,
    explain: v.explain ?? false,
    suite: v.suite ?? false,
    mfa: v.mfa ?? false,
    suiteUsers: integer('suite-users', v['suite-users'], 1_000_000, 1, 1_000_000),
    nodeEnv: v['node-env'] ?? process.env.NODE_ENV,
    cpuProfDir: v['cpu-prof'] ? path.resolve(v['cpu-prof']) : undefined,
    serverNodeOptions: v['server-node-option'] ?? [],
  };
}
export type BenchOptions = ReturnType<typeof options>;

/** The README's table: each row a scenario, the big one also measuring resets, RSS, reports and plans. */
function suite(opts: BenchOptions): Scenario[] {
  const big = opts.suiteUsers;
  const base = { levels: opts.levels, resetSeconds: 0, rssConcurrency: 0, reports: false, explain: false };
  return [
    { ...base, label: 'SQLite 1k', db: 'sqlite', users: 1000, instances: 1 },
    { ...base, label: 'PostgreSQL 1k', db: 'postgres', users: 1000, instances: 1 },
    { ...base, label: 'PostgreSQL 1k + MFA', db: 'postgres', users: 1000, instances: 1, mfa: true },
    {
      ...base,
      label: `PostgreSQL ${big >= 1000 ? `${big / 1000}k` : big}`,
      db: 'postgres',
      users: big,
      instances: 1,
      resetSeconds: opts.resetSeconds || opts.seconds,
      rssConcurrency: opts.rssConcurrency || 200,
      reports: true,
      explain: true,
    },
    { ...base, label: `PostgreSQL ${big >= 1000 ? `${big / 1000}k` : big} × 2`, db: 'postgres', users: big, instances: 2 },
  ];
}

function table(results: ScenarioResult[]): string[] {
  const header = ['scenario', 'logins/s', 'p50 ms', 'p99 ms', 'srv cpu ms/login', 'db cpu ms/login', 'peak RSS MiB', 'verifies/s', 'ratio', 'resets/s', `RSS @ burst`, 'other load', 'failures'];
  const rows = results.map((r) => [
    r.label,
    r.bestLoginsPerSecond.toFixed(2),
    String(r.p50Ms),
    String(r.p99Ms),
    String(r.serverCpuMsPerLogin),
    r.databaseCpuMsPerLogin === null ? '-' : String(r.databaseCpuMsPerLogin),
    String(r.peakRssMiB),
    r.bestVerifiesPerSecond.toFixed(2),
    r.ratio.toFixed(3),
    r.resetsPerSecond === undefined ? '-' : r.resetsPerSecond.toFixed(2),
    r.burst ? `${r.burst.peakRssMiB} MiB @ ${r.burst.concurrency}` : '-',
    `${Math.round(r.foreignCpu * 100)}%`,
    String(r.failures),
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c]!.length)));
  const line = (cells: string[]) => cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
  return [line(header), ...rows.map(line)];
}

async function main(): Promise<number> {
  const opts = options();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'oidc-sspr-bench-'));
  onExit(() => rmSync(dir, { recursive: true, force: true }));
  const started = performance.now();
  process.stdout.write(
    `argon2id m=${opts.argon2.memoryCost} KiB t=${opts.argon2.timeCost} p=${opts.argon2.parallelism} (preset ${opts.preset}); ` +
      `levels ${opts.levels.join(',')}; per level ${opts.seconds} s of logins and ${opts.seconds} s of verifies in ${opts.rounds} rounds; ` +
      `NODE_ENV=${opts.nodeEnv ?? '(unset)'}; UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? '(default 4)'}; ` +
      `${os.availableParallelism()} CPUs; node ${process.version}\n`,
  );
  const scenarios: Scenario[] = opts.suite
    ? suite(opts)
    : [
        {
          label: `${opts.db === 'sqlite' ? 'SQLite' : 'PostgreSQL'} ${opts.users} users${opts.instances > 1 ? ` × ${opts.instances}` : ''}`,
          db: opts.db,
          users: opts.users,
          instances: opts.instances,
          levels: opts.levels,
          resetSeconds: opts.resetSeconds,
          rssConcurrency: opts.rssConcurrency,
          reports: opts.reports,
          explain: opts.explain,
          mfa: opts.mfa,
        },
      ];
  const results: ScenarioResult[] = [];
  for (const scenario of scenarios) {
    process.stdout.write(`\n== ${scenario.label}\n`);
    const result = await runScenario(scenario, opts, path.join(dir, String(results.length)));
    results.push(result);
  }
  const out = ['', ...table(results)];
  for (const r of results) {
    for (const t of r.reports ?? []) out.push(`${r.label}: ${t.command} ${t.seconds} s wall, ${t.cpuSeconds} s CPU, peak RSS ${t.peakRssMiB} MiB (${t.outputLines} lines)`);
  }
  const failures = results.reduce((sum, r) => sum + r.failures, 0);
  const busiest = Math.max(...results.map((r) => r.foreignCpu));
  if (busiest > 0.1) out.push(`WARNING: other processes took up to ${(busiest * 100).toFixed(0)}% of a CPU during a phase; the figures are disturbed (run on an idle machine)`);
  const report = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model,
    nodeEnv: opts.nodeEnv ?? null,
    preset: opts.preset,
    rpClient: opts.rpClient,
    argon2: opts.argon2,
    secondsPerLevel: opts.seconds,
    rounds: opts.rounds,
    results: results.map(({ lines: _lines, ...r }) => r),
    failures,
    totalSeconds: round((performance.now() - started) / 1000),
  };
  const outDir = path.join(root, 'test/output');
  mkdirSync(outDir, { recursive: true });
  const outFile = path.join(outDir, `bench-${report.date.replace(/[:.]/g, '-')}.json`);
  writeFileSync(outFile, `${JSON.stringify(report, null, 2)}\n`);
  out.push(`total: ${report.totalSeconds} s; results in ${path.relative(process.cwd(), outFile)}`);
  process.stdout.write(`${out.join('\n')}\n`);
  return failures ? 1 : 0;
}

main().then(
  (code) => {
    runCleanups();
    process.exit(code);
  },
  (error: unknown) => {
    process.stderr.write(`bench failed: ${(error as Error).stack ?? String(error)}\n`);
    runCleanups();
    process.exit(1);
  },
);
