/**
 * Login benchmark (`npm run bench`): a figure, not a test.
 *
 * Starts the real server (`src/server.ts`) as a child process on a fresh SQLite file, then a real
 * relying party (openid-client, through the test browser) runs whole code flows — authorize,
 * sign-in page, credentials, callback, code redeemed at the token endpoint with PKCE, id_token
 * checked — at a few concurrency levels. In the same run, with the server idle, it measures
 * argon2id verifications per second alone, with the same parameters and at the same levels.
 *
 * Prints logins/s, p50/p99 latency, failures, CPU per login, the server's peak RSS, and the ratio
 * best logins/s ÷ best verifies/s (the hash should be nearly the whole cost of a login); writes the
 * same as JSON to test/output/bench-<timestamp>.json.
 *
 * Per level, logins and verifies alternate in `--rounds` rounds sharing `--seconds` each, so that
 * other load on the machine disturbs both alike; throughput counts only the completions after the
 * first quarter of each round (steady state). Foreign CPU use is measured from /proc/stat and shown.
 *
 * The relying party (openid-client, undici, the test browser) runs in this process, on the same
 * CPUs as the server: a separate process would not give it CPUs of its own. Its CPU per login is
 * measured instead, and the ratio is also shown with that share taken out (what the server alone
 * would reach if it were CPU-bound), next to the plain CPU figures: verify CPU ÷ server CPU per login.
 *
 *   npm run bench -- [--levels 1,2,4,8] [--seconds 5] [--rounds 2] [--users 50]
 *                    [--memory 19456] [--time 2] [--parallelism 1]
 *                    [--node-env production] [--cpu-prof DIR] [--server-node-option OPT]...
 *
 * Only 127.0.0.1 is contacted. The server is stopped and the temp dir removed on every exit path.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync, readdirSync, mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import argon2 from 'argon2';
import { stringify } from 'yaml';
import { loadConfigFile } from '../../src/config/load.ts';
import type { ConfigInput } from '../../src/config/schema.ts';
import { openDatabase, migrateLatest } from '../../src/store/db.ts';
import { createStore } from '../../src/store/index.ts';
import { createPasswordHasher, type Argon2Params } from '../../src/security/password.ts';
import { UserService } from '../../src/users/service.ts';
import { systemClock } from '../../src/clock.ts';
import { discover, login } from '../helpers/rp.ts';
import { RP_REDIRECT } from '../helpers/idp.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const nodeBin = path.join(root, 'node_modules/.bin/node');
const CLIENT_ID = 'bench-app';
const CLIENT_SECRET = 'bench-app-secret-0123456789abcdef';
const PASSWORD = (i: number) => `bench password ${i} correct horse`;

// ---------------------------------------------------------------------------------------------
// Options

function usage(message?: string): never {
  if (message) process.stderr.write(`${message}\n`);
  process.stderr.write(
    'usage: npm run bench -- [--levels 1,2,4,8] [--seconds 5] [--rounds 2] [--users 50] [--memory 19456] [--time 2] [--parallelism 1] [--node-env production] [--cpu-prof DIR] [--server-node-option OPT]...\n',
  );
  process.exit(2);
}

function positiveInt(name: string, value: string | undefined, def: number, max: number): number {
  if (value === undefined) return def;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) usage(`--${name} must be an integer from 1 to ${max}`);
  return n;
}

function options() {
  let parsed;
  try {
    parsed = parseArgs({
      options: {
        levels: { type: 'string' },
        seconds: { type: 'string' },
        rounds: { type: 'string' },
        users: { type: 'string' },
        memory: { type: 'string' },
        time: { type: 'string' },
        parallelism: { type: 'string' },
        'node-env': { type: 'string' },
        'cpu-prof': { type: 'string' },
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
  const levels = (v.levels ?? '1,2,4,8').split(',').map((s) => positiveInt('levels', s.trim(), 1, 256));
  return {
    levels,
    seconds: positiveInt('seconds', v.seconds, 5, 600),
    rounds: positiveInt('rounds', v.rounds, 2, 100),
    users: positiveInt('users', v.users, 50, 10_000),
    argon2: {
      memoryCost: positiveInt('memory', v.memory, 19456, 1048576),
      timeCost: positiveInt('time', v.time, 2, 20),
      parallelism: positiveInt('parallelism', v.parallelism, 1, 16),
    } satisfies Argon2Params,
    nodeEnv: v['node-env'] ?? process.env.NODE_ENV,
    cpuProfDir: v['cpu-prof'] ? path.resolve(v['cpu-prof']) : undefined,
    serverNodeOptions: v['server-node-option'] ?? [],
  };
}

// ---------------------------------------------------------------------------------------------
// Cleanup on every exit path

const cleanups: Array<() => void> = [];
function runCleanups(): void {
  while (cleanups.length) {
    try {
      cleanups.pop()!();
    } catch {
      // best effort: keep cleaning
    }
  }
}
process.on('exit', runCleanups);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    process.stderr.write(`\n${signal}: stopping the server and removing the temp dir\n`);
    runCleanups();
    process.exit(130);
  });
}

// ---------------------------------------------------------------------------------------------
// Helpers

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** kB figures from /proc/<pid>/status (VmRSS, VmHWM), or undefined once the process is gone. */
function procStatus(pid: number): { rssKb: number; hwmKb: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)\\s+kB`, 'm').exec(text)?.[1] ?? NaN);
    return { rssKb: kb('VmRSS'), hwmKb: kb('VmHWM') };
  } catch {
    return undefined;
  }
}

/** User + system CPU time of a process, ms (all its threads, so the argon2 pool included). */
function procCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    const ticks = Number(fields[11]) + Number(fields[12]);
    return (ticks * 1000) / CLK_TCK;
  } catch {
    return NaN;
  }
}
const CLK_TCK = 100; // sysconf(_SC_CLK_TCK) on Linux

/**
 * A process's CPU time split by thread: the main thread (the event loop: HTTP, oidc-provider, the
 * IdP's code, knex), libuv's pool (argon2 and SQLite statements) and the rest (V8's GC and compiler
 * helpers), ms. Threads that ended are missing, so the sum can be below procCpuMs.
 */
function threadCpuMs(pid: number): { main: number; pool: number; other: number } {
  const split = { main: 0, pool: 0, other: 0 };
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return { main: NaN, pool: NaN, other: NaN };
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ms = ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
      if (tid === String(pid)) split.main += ms;
      else if (name === 'libuv-worker') split.pool += ms;
      else split.other += ms;
    } catch {
      // the thread ended between readdir and read
    }
  }
  return split;
}

/** CPU ms the whole machine spent busy (all CPUs; idle and iowait excluded) and stolen by the hypervisor. */
function machineCpuMs(): { busy: number; steal: number } {
  try {
    const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
    const t = ticks.map(Number);
    const total = t.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busy: ((total - t[3]! - t[4]! - t[7]!) * 1000) / CLK_TCK, steal: (t[7]! * 1000) / CLK_TCK };
  } catch {
    return { busy: NaN, steal: NaN };
  }
}

/**
 * Measures what other processes (and the hypervisor) took from the machine while `phase` ran, as
 * a share of one CPU: the figures are only meaningful when this stays near 0.
 */
async function measured<T>(pids: number[], phase: () => Promise<T>): Promise<{ value: T; foreignCpu: number; stealCpu: number; ms: number }> {
  const own0 = pids.reduce((sum, pid) => sum + procCpuMs(pid), 0) + selfCpuMs();
  const machine0 = machineCpuMs();
  const t0 = performance.now();
  const value = await phase();
  const ms = performance.now() - t0;
  const own = pids.reduce((sum, pid) => sum + procCpuMs(pid), 0) + selfCpuMs() - own0;
  const machine = machineCpuMs();
  return {
    value,
    foreignCpu: Math.max(0, machine.busy - machine0.busy - own) / ms,
    stealCpu: (machine.steal - machine0.steal) / ms,
    ms,
  };
}

function accumulate(sum: { cpuMs: number; stealMs: number; ms: number }, phase: { foreignCpu: number; stealCpu: number; ms: number }) {
  return { cpuMs: sum.cpuMs + phase.foreignCpu * phase.ms, stealMs: sum.stealMs + phase.stealCpu * phase.ms, ms: sum.ms + phase.ms };
}

function selfCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

const round = (n: number, digits = 1) => (Number.isFinite(n) ? Number(n.toFixed(digits)) : null);

interface LoopResult {
  /** Completions that ended inside the steady-state window. */
  inWindow: number;
  windowMs: number;
  /** Latencies of those completions, ms. */
  latencies: number[];
  /** Every completion, ramp and drain included (what the CPU time was spent on). */
  completed: number;
  failures: number;
  errors: string[];
}

/**
 * Closed loop: `concurrency` workers run `task` back to back for `seconds`; tasks still running at
 * the deadline finish but are not counted. Throughput counts only completions in the steady-state
 * window, after the first `ramp` of the time, so that starting from idle does not bias it.
 */
async function closedLoop(concurrency: number, seconds: number, task: (n: number) => Promise<void>, ramp = 0.25): Promise<LoopResult> {
  const result: LoopResult = { inWindow: 0, windowMs: 0, latencies: [], completed: 0, failures: 0, errors: [] };
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const windowStart = started + ramp * seconds * 1000;
  result.windowMs = deadline - windowStart;
  let counter = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        const n = counter++;
        const t0 = performance.now();
        try {
          await task(n);
          const t1 = performance.now();
          result.completed += 1;
          if (t1 >= windowStart && t1 <= deadline) {
            result.inWindow += 1;
            result.latencies.push(t1 - t0);
          }
        } catch (error) {
          result.failures += 1;
          if (result.errors.length < 5) result.errors.push((error as Error).message.slice(0, 500));
        }
      }
    }),
  );
  return result;
}

/** Adds up the rounds of one kind of phase at one level. */
function combine(parts: LoopResult[]): LoopResult {
  return {
    inWindow: parts.reduce((s, p) => s + p.inWindow, 0),
    windowMs: parts.reduce((s, p) => s + p.windowMs, 0),
    latencies: parts.flatMap((p) => p.latencies).sort((x, y) => x - y),
    completed: parts.reduce((s, p) => s + p.completed, 0),
    failures: parts.reduce((s, p) => s + p.failures, 0),
    errors: parts.flatMap((p) => p.errors).slice(0, 5),
  };
}

// ---------------------------------------------------------------------------------------------
// Setup: temp config, users, server

interface Server {
  child: ChildProcess;
  pid: number;
  issuer: string;
  output: () => string;
}

function writeConfig(dir: string, port: number, params: Argon2Params): string {
  const config: ConfigInput = {
    server: { issuer: `http://127.0.0.1:${port}`, port, host: '127.0.0.1' },
    database: { client: 'sqlite', filename: path.join(dir, 'idp.sqlite') },
    logging: { level: 'warn' },
    clients: [
      {
        clientId: CLIENT_ID,
        clientName: 'Bench App',
        clientSecret: CLIENT_SECRET,
        redirectUris: [RP_REDIRECT],
        firstParty: true,
      },
    ],
    passwords: { argon2: params },
  };
  const file = path.join(dir, 'idp.yaml');
  writeFileSync(file, stringify(config));
  return file;
}

/** Creates the users in the database the server will open; returns their ids by index. */
async function createUsers(configFile: string, dir: string, count: number): Promise<string[]> {
  const config = await loadConfigFile(configFile);
  const db = openDatabase(config.database, dir);
  try {
    await migrateLatest(db, config.database.schema);
    const store = createStore(db);
    const users = new UserService(store, createPasswordHasher(() => config.passwords.argon2), systemClock);
    const ids: string[] = [];
    // A few at a time: hashing runs on the thread pool.
    for (let i = 0; i < count; i += 4) {
      const batch = Array.from({ length: Math.min(4, count - i) }, (_u, k) =>
        users.create({ username: `bench${i + k}`, password: PASSWORD(i + k), email: `bench${i + k}@example.org` }),
      );
      for (const user of await Promise.all(batch)) ids.push(user.id);
    }
    return ids;
  } finally {
    await db.destroy();
  }
}

async function startServer(configFile: string, dir: string, port: number, opts: ReturnType<typeof options>): Promise<Server> {
  const execArgv = [...opts.serverNodeOptions, ...(opts.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', opts.cpuProfDir] : [])];
  const env = { ...process.env };
  if (opts.nodeEnv === undefined) delete env.NODE_ENV;
  else env.NODE_ENV = opts.nodeEnv;
  const child = spawn(nodeBin, [...execArgv, path.join(root, 'src/server.ts'), '--config', configFile], {
    cwd: dir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  cleanups.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  if (child.pid === undefined) throw new Error('could not start the server');
  const issuer = `http://127.0.0.1:${port}`;
  const exited = new Promise<never>((_resolve, reject) => {
    child.once('exit', (code, signal) => reject(new Error(`server exited early (code ${code}, signal ${signal}):\n${output}`)));
  });
  exited.catch(() => undefined);
  const ready = (async () => {
    const until = Date.now() + 30_000;
    while (Date.now() < until) {
      try {
        const response = await fetch(`${issuer}/.well-known/openid-configuration`);
        if (response.ok) return;
      } catch {
        // not listening yet
      }
      await sleep(100);
    }
    throw new Error(`server not answering after 30 s:\n${output}`);
  })();
  await Promise.race([ready, exited]);
  return { child, pid: child.pid, issuer, output: () => output };
}

/** Graceful stop (SIGTERM, so a --cpu-prof profile gets written); SIGKILL after 10 s. */
async function stopServer(server: Server): Promise<void> {
  const { child } = server;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await gone;
  clearTimeout(timer);
}

// ---------------------------------------------------------------------------------------------
// Main

interface LevelResult {
  level: number;
  logins: number;
  loginsPerSecond: number;
  p50Ms: number | null;
  p99Ms: number | null;
  failures: number;
  errors: string[];
  /** CPU per login, ms: the server process (all threads) and this process (the relying party). */
  serverCpuMsPerLogin: number | null;
  /** The server's CPU per login by thread: main (event loop), libuv pool (argon2, SQLite), V8 helpers. */
  serverMainCpuMsPerLogin: number | null;
  serverPoolCpuMsPerLogin: number | null;
  serverOtherCpuMsPerLogin: number | null;
  rpCpuMsPerLogin: number | null;
  /** Highest sampled VmRSS of the server during this level, MiB. */
  serverRssMiB: number | null;
  verifies: number;
  verifiesPerSecond: number;
  verifyP50Ms: number | null;
  verifyCpuMsPerVerify: number | null;
  /**
   * CPUs' worth of time other processes (foreign) and the hypervisor (steal) took during the
   * busier of the two phases; the figures are trustworthy only when both are near 0.
   */
  foreignCpu: number | null;
  stealCpu: number | null;
}

async function main(): Promise<number> {
  const opts = options();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'oidc-sspr-bench-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const totalStarted = performance.now();

  const port = await freePort();
  const configFile = writeConfig(dir, port, opts.argon2);
  process.stdout.write(
    `argon2id m=${opts.argon2.memoryCost} KiB t=${opts.argon2.timeCost} p=${opts.argon2.parallelism}; ` +
      `levels ${opts.levels.join(',')}; per level ${opts.seconds} s of logins and ${opts.seconds} s of verifies in ${opts.rounds} rounds; ${opts.users} users; ` +
      `NODE_ENV=${opts.nodeEnv ?? '(unset)'}; ${opts.serverNodeOptions.length ? `server node options ${opts.serverNodeOptions.join(' ')}; ` : ''}UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? '(default 4)'}; ` +
      `${os.availableParallelism()} CPUs; node ${process.version}\n`,
  );

  const userIds = await createUsers(configFile, dir, opts.users);
  const server = await startServer(configFile, dir, port, opts);
  let rssSamples = 0;
  let peakSampledKb = 0;
  let levelPeakKb = 0;
  const sampler = setInterval(() => {
    const s = procStatus(server.pid);
    if (!s) return;
    rssSamples += 1;
    peakSampledKb = Math.max(peakSampledKb, s.rssKb);
    levelPeakKb = Math.max(levelPeakKb, s.rssKb);
  }, 100);
  cleanups.push(() => clearInterval(sampler));
  const idleRssKb = procStatus(server.pid)?.rssKb ?? NaN;

  try {
    const rp = await discover({ issuer: server.issuer, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
    const oneLogin = async (n: number) => {
      const i = n % userIds.length;
      const { tokens } = await login(rp, `bench${i}`, PASSWORD(i));
      const claims = tokens.claims();
      if (!claims || claims.sub !== userIds[i]) throw new Error(`id_token sub ${claims?.sub} is not user ${userIds[i]}`);
      if (!tokens.access_token) throw new Error('no access token');
    };
    // Warm-up: the first requests compile code paths and fill caches on both sides.
    const warmUp = await closedLoop(2, 1.5, oneLogin);
    if (warmUp.failures) throw new Error(`logins fail during the warm-up: ${warmUp.errors.join('\n')}`);

    const hash = await argon2.hash(PASSWORD(0), { type: argon2.argon2id, ...opts.argon2 });
    for (let n = 0; n < 2; n += 1) await argon2.verify(hash, PASSWORD(0));

    const levels: LevelResult[] = [];
    for (const level of opts.levels) {
      levelPeakKb = 0;
      // Logins and verifies alternate in rounds, so that load from elsewhere on the machine
      // disturbs both alike; every phase ends idle (in-flight work drains) before the next.
      const loginRounds: LoopResult[] = [];
      const verifyRounds: LoopResult[] = [];
      let serverCpu = 0;
      const serverThreads = { main: 0, pool: 0, other: 0 };
      let rpCpu = 0;
      let verifyCpu = 0;
      let loginForeign = { cpuMs: 0, stealMs: 0, ms: 0 };
      let verifyForeign = { cpuMs: 0, stealMs: 0, ms: 0 };
      const slice = opts.seconds / opts.rounds;
      for (let round = 0; round < opts.rounds; round += 1) {
        const serverCpu0 = procCpuMs(server.pid);
        const threads0 = threadCpuMs(server.pid);
        const rpCpu0 = selfCpuMs();
        const loginPhase = await measured([server.pid], () => closedLoop(level, slice, oneLogin));
        serverCpu += procCpuMs(server.pid) - serverCpu0;
        const threads = threadCpuMs(server.pid);
        for (const k of ['main', 'pool', 'other'] as const) serverThreads[k] += threads[k] - threads0[k];
        rpCpu += selfCpuMs() - rpCpu0;
        loginRounds.push(loginPhase.value);
        loginForeign = accumulate(loginForeign, loginPhase);

        // argon2 alone, in this process, while the server is idle.
        const verifyCpu0 = selfCpuMs();
        const verifyPhase = await measured([server.pid], () =>
          closedLoop(level, slice, async () => {
            if (!(await argon2.verify(hash, PASSWORD(0)))) throw new Error('verify returned false');
          }),
        );
        verifyCpu += selfCpuMs() - verifyCpu0;
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
        serverMainCpuMsPerLogin: round(serverThreads.main / logins.completed),
        serverPoolCpuMsPerLogin: round(serverThreads.pool / logins.completed),
        serverOtherCpuMsPerLogin: round(serverThreads.other / logins.completed),
        rpCpuMsPerLogin: round(rpCpu / logins.completed),
        serverRssMiB: round(levelPeakKb / 1024),
        verifies: verifies.completed,
        verifiesPerSecond: round((verifies.inWindow * 1000) / verifies.windowMs, 2)!,
        verifyP50Ms: round(percentile(verifies.latencies, 50)),
        verifyCpuMsPerVerify: round(verifyCpu / verifies.completed),
        foreignCpu: round(Math.max(loginForeign.cpuMs / loginForeign.ms, verifyForeign.cpuMs / verifyForeign.ms), 2),
        stealCpu: round(Math.max(loginForeign.stealMs / loginForeign.ms, verifyForeign.stealMs / verifyForeign.ms), 2),
      };
      levels.push(result);
      process.stdout.write(
        `  level ${level}: ${result.loginsPerSecond} logins/s, ${result.verifiesPerSecond} verifies/s` +
          (result.failures ? `, ${result.failures} FAILURES` : '') +
          '\n',
      );
    }

    const final = procStatus(server.pid);
    const peakRssKb = Math.max(final?.hwmKb ?? 0, peakSampledKb);
    if (!final) throw new Error(`the server is gone:\n${server.output()}`);
    await stopServer(server);
    clearInterval(sampler);

    const bestLogins = Math.max(...levels.map((l) => l.loginsPerSecond));
    const bestVerifies = Math.max(...levels.map((l) => l.verifiesPerSecond));
    const ratio = bestLogins / bestVerifies;
    const failures = levels.reduce((sum, l) => sum + l.failures, 0);
    // CPU time is far less disturbed by other load than throughput: from it, the best ratio this
    // machine allows when every CPU is busy, with the RP on the same CPUs and without it.
    const mid = (xs: Array<number | null>) => {
      const sorted = xs.filter((x): x is number => x !== null).sort((a, b) => a - b);
      return sorted.length ? sorted[Math.floor((sorted.length - 1) / 2)]! : NaN;
    };
    const cpu = {
      serverMsPerLogin: mid(levels.map((l) => l.serverCpuMsPerLogin)),
      serverMainMsPerLogin: mid(levels.map((l) => l.serverMainCpuMsPerLogin)),
      serverPoolMsPerLogin: mid(levels.map((l) => l.serverPoolCpuMsPerLogin)),
      serverOtherMsPerLogin: mid(levels.map((l) => l.serverOtherCpuMsPerLogin)),
      rpMsPerLogin: mid(levels.map((l) => l.rpCpuMsPerLogin)),
      msPerVerify: mid(levels.map((l) => l.verifyCpuMsPerVerify)),
    };
    const cpuBoundRatio = cpu.msPerVerify / (cpu.serverMsPerLogin + cpu.rpMsPerLogin);
    const serverOnlyRatio = cpu.msPerVerify / cpu.serverMsPerLogin;
    const rpExcludedRatio = (ratio * (cpu.serverMsPerLogin + cpu.rpMsPerLogin)) / cpu.serverMsPerLogin;

    const header = ['level', 'logins/s', 'p50 ms', 'p99 ms', 'failures', 'srv cpu ms/login', 'main', 'pool', 'v8', 'rp cpu ms/login', 'srv RSS MiB', 'verifies/s', 'verify p50 ms', 'other load'];
    const rows = levels.map((l) => [
      l.level,
      l.loginsPerSecond.toFixed(2),
      l.p50Ms,
      l.p99Ms,
      l.failures,
      l.serverCpuMsPerLogin,
      l.serverMainCpuMsPerLogin,
      l.serverPoolCpuMsPerLogin,
      l.serverOtherCpuMsPerLogin,
      l.rpCpuMsPerLogin,
      l.serverRssMiB,
      l.verifiesPerSecond.toFixed(2),
      l.verifyP50Ms,
      `${((l.foreignCpu ?? 0) * 100).toFixed(0)}%`,
    ].map(String));
    const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
    const line = (cells: string[]) => cells.map((cell, c) => cell.padStart(widths[c]!)).join('  ');
    const out: string[] = ['', line(header), ...rows.map(line), ''];
    out.push(`server peak RSS:    ${(peakRssKb / 1024).toFixed(1)} MiB (VmHWM; idle after start ${(idleRssKb / 1024).toFixed(1)} MiB; ${rssSamples} samples)`);
    out.push(`best logins/s:      ${bestLogins.toFixed(2)}`);
    out.push(`best verifies/s:    ${bestVerifies.toFixed(2)}`);
    out.push(`ratio:              ${ratio.toFixed(3)} (logins/s ÷ verifies/s; aim ≥ 0.8)`);
    out.push(
      `CPU per login:      server ${cpu.serverMsPerLogin} ms + relying party ${cpu.rpMsPerLogin} ms; one verify ${cpu.msPerVerify} ms (medians over levels)`,
    );
    out.push(
      `server by thread:   main ${cpu.serverMainMsPerLogin} ms, libuv pool ${cpu.serverPoolMsPerLogin} ms (argon2 + SQLite), V8 helpers ${cpu.serverOtherMsPerLogin} ms per login; ` +
        `beyond the hash ${round(cpu.serverMsPerLogin - cpu.msPerVerify)} ms`,
    );
    out.push(`CPU-bound ceiling:  ${cpuBoundRatio.toFixed(3)} with the RP on these CPUs; ${serverOnlyRatio.toFixed(3)} for the server alone (verify CPU ÷ CPU per login)`);
    out.push(
      `ratio without RP:   ${rpExcludedRatio.toFixed(3)} (estimate: the ratio with the RP's ${cpu.rpMsPerLogin} ms per login given back to the server; holds only when logins are CPU-bound)`,
    );
    out.push(`failures:           ${failures}`);
    const busiest = Math.max(...levels.map((l) => (l.foreignCpu ?? 0) + (l.stealCpu ?? 0)));
    if (busiest > 0.1) {
      out.push(`WARNING: other processes took up to ${(busiest * 100).toFixed(0)}% of a CPU during a phase; the figures are disturbed (run on an idle machine)`);
    }
    for (const l of levels) for (const e of l.errors) out.push(`  level ${l.level} error: ${e}`);

    const report = {
      date: new Date().toISOString(),
      node: process.version,
      cpus: os.availableParallelism(),
      cpuModel: os.cpus()[0]?.model,
      nodeEnv: opts.nodeEnv ?? null,
      serverNodeOptions: opts.serverNodeOptions,
      uvThreadpoolSize: process.env.UV_THREADPOOL_SIZE ?? null,
      argon2: opts.argon2,
      secondsPerLevel: opts.seconds,
      rounds: opts.rounds,
      users: opts.users,
      levels,
      serverPeakRssMiB: round(peakRssKb / 1024),
      serverIdleRssMiB: round(idleRssKb / 1024),
      bestLoginsPerSecond: bestLogins,
      bestVerifiesPerSecond: bestVerifies,
      ratio: round(ratio, 3),
      cpu: { ...cpu, cpuBoundRatio: round(cpuBoundRatio, 3), serverOnlyRatio: round(serverOnlyRatio, 3) },
      ratioWithoutRp: round(rpExcludedRatio, 3),
      failures,
      totalSeconds: round((performance.now() - totalStarted) / 1000),
    };
    const outDir = path.join(root, 'test/output');
    mkdirSync(outDir, { recursive: true });
    const outFile = path.join(outDir, `bench-${report.date.replace(/[:.]/g, '-')}.json`);
    writeFileSync(outFile, `${JSON.stringify(report, null, 2)}\n`);
    out.push(`total:              ${report.totalSeconds} s; results in ${path.relative(process.cwd(), outFile)}`);
    if (opts.cpuProfDir) out.push(`server CPU profile in ${opts.cpuProfDir}`);
    process.stdout.write(`${out.join('\n')}\n`);
    return failures ? 1 : 0;
  } finally {
    clearInterval(sampler);
    await stopServer(server).catch(() => undefined);
  }
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
