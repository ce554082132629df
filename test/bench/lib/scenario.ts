/**
 * One bench scenario: N server processes on one seeded database, logins at each concurrency level
 * alternating with argon2 verifies alone, then (as asked) resets per second, a burst of concurrent
 * logins for peak RSS, the reports' time and the plans of the hot statements.
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import argon2 from 'argon2';
import { stringify } from 'yaml';
import type { ConfigInput } from '../../../src/config/schema.ts';
import { openDatabase } from '../../../src/store/db.ts';
import { createStore } from '../../../src/store/index.ts';
import type { Config } from '../../../src/config/schema.ts';
import { Browser, type Page } from '../../helpers/browser.ts';
import { discover, login, authorizationRequest, signIn, redeem, rpAt, oidc } from '../../helpers/rp.ts';
import { RP_REDIRECT } from '../../helpers/idp.ts';
import { resetOnce, codeFromOutbox, lastOutboxId } from './flows.ts';
import { seedUsers, PASSWORD, username, userId, emailOf, type DatabaseInput } from './seed.ts';
import { freePort, startServer, stopServer, type Server } from './servers.ts';
import {
  procStatus, procCpuMs, threadCpuMs, postgresCpuMs, selfCpuMs, measured, accumulate, closedLoop, combine, percentile, round, type LoopResult,
} from './measure.ts';
import { timeReports, type ReportTiming } from './reports.ts';
import { explainHotStatements } from './explain.ts';
import { keepAliveFetch, closeKeepAlive } from './keep-alive-fetch.ts';
import type { BenchOptions } from '../login-bench.ts';
import { ssprWith } from '../../helpers/sspr-settings.ts';

export const CLIENT_ID = 'bench-app';
export const CLIENT_SECRET = 'bench-app-secret-0123456789abcdef';

export interface Scenario {
  label: string;
  db: 'sqlite' | 'postgres';
  users: number;
  instances: number;
  levels: number[];
  resetSeconds: number;
  rssConcurrency: number;
  reports: boolean;
  explain: boolean;
  /** Everyone proves an emailed code after the password (mfa.require: all), read from the outbox. */
  mfa?: boolean;
}

export interface LevelResult {
  level: number;
  logins: number;
  loginsPerSecond: number;
  p50Ms: number | null;
  p99Ms: number | null;
  failures: number;
  errors: string[];
  serverCpuMsPerLogin: number | null;
  serverMainCpuMsPerLogin: number | null;
  serverPoolCpuMsPerLogin: number | null;
  /** System (kernel) time of the main thread: its syscalls, socket writes above all. */
  serverMainSystemCpuMsPerLogin: number | null;
  /** PostgreSQL's processes, when the database runs on this machine (null for SQLite or a remote server). */
  databaseCpuMsPerLogin: number | null;
  rpCpuMsPerLogin: number | null;
  verifiesPerSecond: number;
  verifyCpuMsPerVerify: number | null;
  foreignCpu: number | null;
}

export interface ScenarioResult {
  label: string;
  db: string;
  users: number;
  instances: number;
  seedSeconds: number;
  seedCached: boolean;
  levels: LevelResult[];
  bestLoginsPerSecond: number;
  databaseCpuMsPerLogin: number | null;
  /** CPU of one login at the best level, all parties, and the hash's share of it (see cpuBudget). */
  cpuBudget?: { totalMs: number; hashShare: number; serverHashShare: number };
  /** p50/p99 at the level with the best throughput. */
  p50Ms: number | null;
  p99Ms: number | null;
  serverCpuMsPerLogin: number | null;
  bestVerifiesPerSecond: number;
  ratio: number;
  peakRssMiB: number | null;
  resetsPerSecond?: number;
  resetP50Ms?: number | null;
  burst?: { concurrency: number; peakRssMiB: number | null; seconds: number | null; failures: number };
  reports?: ReportTiming[];
  plans?: Awaited<ReturnType<typeof explainHotStatements>>;
  foreignCpu: number;
  failures: number;
  lines: string[];
}

/** The bench's configuration for one instance (all of them share the issuer and the database). */
export function benchConfig(issuer: string, port: number, database: DatabaseInput, opts: BenchOptions, mfa = false): ConfigInput {
  return {
    ...(mfa ? { mfa: { require: 'all', methods: ['email'] } } : {}),
    server: { issuer, port, host: '127.0.0.1' },
    database,
    logging: { level: 'warn' },
    clients: [{ clientId: CLIENT_ID, clientName: 'Bench App', clientSecret: CLIENT_SECRET, redirectUris: [RP_REDIRECT], firstParty: true }],
    passwords: { argon2: opts.argon2 },
    // One relying party on one IP address: the per-IP limits would measure the throttle.
    throttle: { signinPerIp: 100_000, resetPerIp: 100_000, resetWindowSeconds: 1 },
    sspr: ssprWith(['email'], { registration: { requireOnSignIn: false } }),
  } as ConfigInput;
}

/** The test browser, sending every request for the issuer to one instance. */
class PinnedBrowser extends Browser {
  readonly #from: string;
  readonly #to: string;
  readonly #client: 'http' | 'fetch';
  constructor(from: string, to: string, client: 'http' | 'fetch') {
    super([new URL(RP_REDIRECT).origin]);
    this.#from = from;
    this.#to = to;
    this.#client = client;
  }
  override request(url: string, init: Parameters<Browser['request']>[1] = {}): Promise<Page> {
    return super.request(url.startsWith(this.#from) ? this.#to + url.slice(this.#from.length) : url, init);
  }
  protected override send(target: URL, init: { method: string; headers: Record<string, string>; body: string | undefined }): Promise<Response> {
    return this.#client === 'http' ? keepAliveFetch(target, init) : super.send(target, init);
  }
}


const mib = (kb: number) => round(kb / 1024);

/**
 * What one login costs the machine at a level (server, local PostgreSQL, relying party) and the
 * hash's share of it: on CPUs the parties saturate together, that share is what the ratio tends
 * to; the share of the server's CPU alone is the ratio on a machine of its own.
 */
function cpuBudget(level: LevelResult): ScenarioResult['cpuBudget'] {
  const { serverCpuMsPerLogin: server, rpCpuMsPerLogin: rp, verifyCpuMsPerVerify: verify, databaseCpuMsPerLogin: database } = level;
  if (server === null || rp === null || verify === null || !(server > 0)) return undefined;
  const totalMs = server + rp + (database ?? 0);
  return { totalMs: round(totalMs)!, hashShare: round(verify / totalMs, 3)!, serverHashShare: round(verify / server, 3)! };
}

/** A PostgreSQL database on this machine, whose processes' CPU the bench can read. */
function localPostgres(db: string, url: string): boolean {
  if (db !== 'postgres') return false;
  try {
    const { hostname, searchParams } = new URL(url);
    return ['127.0.0.1', 'localhost', '[::1]', ''].includes(hostname) || (searchParams.get('host') ?? '').startsWith('/');
  } catch {
    return false;
  }
}

export async function runScenario(scenario: Scenario, opts: BenchOptions, dir: string): Promise<ScenarioResult> {
  mkdirSync(dir, { recursive: true });
  const lines: string[] = [];
  const say = (line: string) => {
    lines.push(line);
    process.stdout.write(`${line}\n`);
  };
  const seeded = await seedUsers({ kind: scenario.db, pgUrl: opts.pgUrl, runDir: dir }, scenario.users, opts.argon2, say);
  say(`users: ${scenario.users} (${seeded.cached ? 'cached' : 'seeded'} in ${seeded.seedSeconds.toFixed(1)} s)`);

  const ports: number[] = [];
  while (ports.length < scenario.instances) {
    const port = await freePort();
    if (!ports.includes(port)) ports.push(port);
  }
  const issuer = `http://127.0.0.1:${ports[0]}`;
  const files = ports.map((port, i) => {
    const file = path.join(dir, `instance-${i}.yaml`);
    writeFileSync(file, stringify(benchConfig(issuer, port, seeded.database, opts, scenario.mfa)));
    return file;
  });
  const execArgv = [...opts.serverNodeOptions, ...(opts.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', opts.cpuProfDir] : [])];
  const servers: Server[] = [];
  // One after the other: the first applies the migrations.
  for (const [i, file] of files.entries()) servers.push(await startServer(file, ports[i]!, { cwd: dir, nodeEnv: opts.nodeEnv, execArgv }));
  const pids = servers.map((s) => s.pid);
  const databaseCpuOf = localPostgres(scenario.db, opts.pgUrl) ? postgresCpuMs : undefined;

  let peakKb = 0;
  const sampler = setInterval(() => {
    for (const pid of pids) peakKb = Math.max(peakKb, procStatus(pid)?.rssKb ?? 0);
  }, 100);
  const store = openDatabase(seeded.database as Config['database'], dir);
  try {
    const discovered = await discover({ issuer, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
    const rps = servers.map((s) => rpAt(discovered, issuer, s.url, CLIENT_ID, CLIENT_SECRET));
    if (opts.rpClient === 'http') for (const rp of rps) rp[oidc.customFetch] = keepAliveFetch;
    // Logins spread over the table (a stride coprime with most N), round-robin over the instances.
    const pick = (n: number) => (n * 7919) % scenario.users;
    const outbox = createStore(store);
    const oneLogin = async (n: number) => {
      const i = pick(n);
      const k = n % servers.length;
      const browser = new PinnedBrowser(issuer, servers[k]!.url, opts.rpClient);
      const tokens = scenario.mfa ? await loginWithEmailCode(rps[k]!, browser, outbox, i) : (await login(rps[k]!, username(i), PASSWORD, {}, browser)).tokens;
      const claims = tokens.claims();
      if (!claims || claims.sub !== userId(i)) throw new Error(`id_token sub ${claims?.sub} is not user ${userId(i)}`);
      if (!tokens.access_token) throw new Error('no access token');
    };
    const warmUp = await closedLoop(2, 1.5, oneLogin);
    if (warmUp.failures) throw new Error(`logins fail during the warm-up: ${warmUp.errors.join('\n')}`);

    const hash = await argon2.hash(PASSWORD, { type: argon2.argon2id, ...opts.argon2 });
    for (let n = 0; n < 2; n += 1) await argon2.verify(hash, PASSWORD);

    const levels: LevelResult[] = [];
    let foreign = 0;
    for (const level of scenario.levels) {
      const loginRounds: LoopResult[] = [];
      const verifyRounds: LoopResult[] = [];
      let serverCpu = 0;
      const threads = { main: 0, mainSystem: 0, pool: 0 };
      let databaseCpu = 0;
      let rpCpu = 0;
      let verifyCpu = 0;
      let loginForeign = { cpuMs: 0, stealMs: 0, ms: 0 };
      let verifyForeign = { cpuMs: 0, stealMs: 0, ms: 0 };
      const slice = opts.seconds / opts.rounds;
      for (let r = 0; r < opts.rounds; r += 1) {
        const cpu0 = pids.reduce((s, pid) => s + procCpuMs(pid), 0);
        const t0 = pids.map((pid) => threadCpuMs(pid));
        const rp0 = selfCpuMs();
        const phase = await measured(pids, () => closedLoop(level, slice, oneLogin), databaseCpuOf);
        databaseCpu += phase.databaseMs;
        serverCpu += pids.reduce((s, pid) => s + procCpuMs(pid), 0) - cpu0;
        pids.forEach((pid, j) => {
          const t1 = threadCpuMs(pid);
          threads.main += t1.main - t0[j]!.main;
          threads.mainSystem += t1.mainSystem - t0[j]!.mainSystem;
          threads.pool += t1.pool - t0[j]!.pool;
        });
        rpCpu += selfCpuMs() - rp0;
        loginRounds.push(phase.value);
        loginForeign = accumulate(loginForeign, phase);
        const v0 = selfCpuMs();
        const verifyPhase = await measured(pids, () =>
          closedLoop(level, slice, async () => {
            if (!(await argon2.verify(hash, PASSWORD))) throw new Error('verify returned false');
          }),
          databaseCpuOf,
        );
        verifyCpu += selfCpuMs() - v0;
        verifyRounds.push(verifyPhase.value);
        verifyForeign = accumulate(verifyForeign, verifyPhase);
      }
      const logins = combine(loginRounds);
      const verifies = combine(verifyRounds);
      const result: LevelResult = {
        level,
        logins: logins.completed,
        loginsPerSecond: round((logins.inWindow * 1000) / logins.windowMs, 2)!,
        p50Ms: round(percentile(logins.latencies, 50)),
        p99Ms: round(percentile(logins.latencies, 99)),
        failures: logins.failures + verifies.failures,
        errors: [...logins.errors, ...verifies.errors],
        serverCpuMsPerLogin: round(serverCpu / logins.completed),
        serverMainCpuMsPerLogin: round(threads.main / logins.completed),
        serverPoolCpuMsPerLogin: round(threads.pool / logins.completed),
        serverMainSystemCpuMsPerLogin: round(threads.mainSystem / logins.completed),
        databaseCpuMsPerLogin: databaseCpuOf ? round(databaseCpu / logins.completed) : null,
        rpCpuMsPerLogin: round(rpCpu / logins.completed),
        verifiesPerSecond: round((verifies.inWindow * 1000) / verifies.windowMs, 2)!,
        verifyCpuMsPerVerify: round(verifyCpu / verifies.completed),
        foreignCpu: round(Math.max(loginForeign.cpuMs / loginForeign.ms, verifyForeign.cpuMs / verifyForeign.ms), 2),
      };
      foreign = Math.max(foreign, result.foreignCpu ?? 0);
      levels.push(result);
      say(
        `  level ${level}: ${result.loginsPerSecond} logins/s (p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms; server ${result.serverCpuMsPerLogin} ms CPU/login: ` +
          `main ${result.serverMainCpuMsPerLogin} (kernel ${result.serverMainSystemCpuMsPerLogin}), pool ${result.serverPoolCpuMsPerLogin}; ` +
          `${result.databaseCpuMsPerLogin === null ? '' : `PostgreSQL ${result.databaseCpuMsPerLogin}; `}RP ${result.rpCpuMsPerLogin}), ${result.verifiesPerSecond} verifies/s` +
          (result.failures ? `, ${result.failures} FAILURES: ${result.errors[0]}` : ''),
      );
    }
    const best = levels.reduce((a, b) => (b.loginsPerSecond > a.loginsPerSecond ? b : a));
    const bestVerifies = Math.max(...levels.map((l) => l.verifiesPerSecond));
    const result: ScenarioResult = {
      label: scenario.label,
      db: scenario.db,
      users: scenario.users,
      instances: scenario.instances,
      seedSeconds: round(seeded.seedSeconds)!,
      seedCached: seeded.cached,
      levels,
      bestLoginsPerSecond: best.loginsPerSecond,
      p50Ms: best.p50Ms,
      p99Ms: best.p99Ms,
      serverCpuMsPerLogin: best.serverCpuMsPerLogin,
      databaseCpuMsPerLogin: best.databaseCpuMsPerLogin,
      bestVerifiesPerSecond: bestVerifies,
      ratio: best.loginsPerSecond / bestVerifies,
      peakRssMiB: null,
      foreignCpu: foreign,
      failures: levels.reduce((s, l) => s + l.failures, 0),
      lines,
    };
    say(`  best: ${best.loginsPerSecond} logins/s at level ${best.level}; ratio ${result.ratio.toFixed(3)} (logins/s ÷ verifies/s)`);
    const budget = cpuBudget(best);
    if (budget) {
      result.cpuBudget = budget;
      say(
        `  CPU per login at level ${best.level}: ${budget.totalMs} ms (server ${best.serverCpuMsPerLogin}, PostgreSQL ${best.databaseCpuMsPerLogin ?? '-'}, RP ${best.rpCpuMsPerLogin}), ` +
          `one verify ${best.verifyCpuMsPerVerify}: hash share ${budget.hashShare} of it all, ${budget.serverHashShare} of the server's`,
      );
    }

    if (scenario.resetSeconds > 0) {
      const resets = await resetPhase(scenario, issuer, servers, store, opts, say);
      result.resetsPerSecond = resets.perSecond;
      result.resetP50Ms = resets.p50Ms;
      result.failures += resets.failures;
    }
    if (scenario.rssConcurrency > 0) {
      result.burst = await burst(scenario.rssConcurrency, servers[0]!.pid, oneLogin, say);
      result.failures += result.burst.failures;
    }
    result.peakRssMiB = mib(Math.max(peakKb, ...pids.map((pid) => procStatus(pid)?.hwmKb ?? 0)));
    if (scenario.reports) result.reports = await timeReports(files[0]!, dir, say);
    if (scenario.explain) {
      if (scenario.db !== 'postgres') say('  (plans: PostgreSQL only)');
      else result.plans = await explainHotStatements(seeded.database, opts, dir, say);
    }
    return result;
  } finally {
    clearInterval(sampler);
    closeKeepAlive();
    await store.destroy();
    for (const s of servers) await stopServer(s).catch(() => undefined);
  }
}

/**
 * Resets per second: start → email code (read from the outbox) → new password, each by a user of
 * its own; their passwords are put back afterwards so that later runs can sign them in.
 */
async function resetPhase(scenario: Scenario, issuer: string, servers: Server[], db: ReturnType<typeof openDatabase>, opts: BenchOptions, say: (line: string) => void) {
  const store = createStore(db);
  const base = Math.floor(Math.random() * scenario.users);
  const used: number[] = [];
  const shared = String((await db('users').where({ id: userId(base) }).first('password_hash'))?.password_hash);
  const oneReset = async (n: number) => {
    const i = (base + n) % scenario.users;
    used.push(i);
    const server = servers[n % servers.length]!;
    await resetOnce(new PinnedBrowser(issuer, server.url, opts.rpClient), issuer, store, i, n);
  };
  const level = Math.max(...scenario.levels.filter((l) => l <= 8), 1);
  const warm = await closedLoop(1, 1, oneReset);
  const loop = await measured(servers.map((s) => s.pid), () => closedLoop(level, scenario.resetSeconds, oneReset));
  const all = combine([warm, loop.value]);
  const perSecond = round((loop.value.inWindow * 1000) / loop.value.windowMs, 2)!;
  const p50Ms = round(percentile(loop.value.latencies.sort((a, b) => a - b), 50));
  say(`  resets: ${perSecond}/s at level ${level} (p50 ${p50Ms} ms, ${all.failures} failures${all.errors[0] ? `: ${all.errors[0]}` : ''})`);
  // The shared password back, so that the next scenarios and runs can sign these users in.
  for (let k = 0; k < used.length; k += 500) await db('users').whereIn('id', used.slice(k, k + 500).map(userId)).update({ password_hash: shared });
  return { perSecond, p50Ms, failures: all.failures };
}

/** A whole code flow with the second factor: password, then the emailed code from the outbox. */
async function loginWithEmailCode(rp: oidc.Configuration, browser: Browser, store: ReturnType<typeof createStore>, i: number) {
  const auth = await authorizationRequest(rp);
  const form = await browser.navigate(auth.url.href);
  const second = await signIn(browser, form, username(i), PASSWORD);
  const before = await lastOutboxId(store, emailOf(i));
  const codePage = await browser.submit(second, '/mfa/send', { method: 'email' });
  const code = await codeFromOutbox(store, emailOf(i), before);
  if (!code) throw new Error(`no sign-in code for ${username(i)} (page ${codePage.status})`);
  const done = await browser.submit(codePage, '/mfa/verify', { method: 'email', code });
  if (done.status !== 0) throw new Error(`the second factor did not return to the client (status ${done.status})`);
  const tokens = await redeem(rp, auth, done.url);
  if (tokens.claims()?.acr !== 'multi-factor') throw new Error(`acr ${tokens.claims()?.acr}, not multi-factor`);
  return tokens;
}

/** Peak RSS of one instance while `concurrency` logins are in flight at once. */
async function burst(concurrency: number, pid: number, oneLogin: (n: number) => Promise<void>, say: (line: string) => void) {
  let peak = procStatus(pid)?.rssKb ?? 0;
  const sampler = setInterval(() => {
    peak = Math.max(peak, procStatus(pid)?.rssKb ?? 0);
  }, 20);
  const t0 = performance.now();
  let failures = 0;
  await Promise.all(Array.from({ length: concurrency }, (_x, n) => oneLogin(1_000_003 + n).catch(() => void (failures += 1))));
  clearInterval(sampler);
  const seconds = round((performance.now() - t0) / 1000);
  const result = { concurrency, peakRssMiB: mib(peak), seconds, failures };
  say(`  burst: ${concurrency} logins at once done in ${seconds} s; instance peak RSS ${result.peakRssMiB} MiB; ${failures} failures`);
  return result;
}

