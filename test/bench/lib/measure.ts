/**
 * What the benchmarks measure with: process and machine CPU from /proc, RSS, percentiles, and the
 * closed loop that runs a task at a fixed concurrency. Linux only (reads /proc).
 */
import { readFileSync, readdirSync } from 'node:fs';

/** kB figures from /proc/<pid>/status (VmRSS, VmHWM), or undefined once the process is gone. */
export function procStatus(pid: number): { rssKb: number; hwmKb: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)\\s+kB`, 'm').exec(text)?.[1] ?? NaN);
    return { rssKb: kb('VmRSS'), hwmKb: kb('VmHWM') };
  } catch {
    return undefined;
  }
}

/** User + system CPU time of a process, ms (all its threads, so the argon2 pool included). */
export function procCpuMs(pid: number): number {
  try {
    const { userMs, systemMs } = statCpu(`/proc/${pid}/stat`);
    return userMs + systemMs;
  } catch {
    return NaN;
  }
}
export const CLK_TCK = 100; // sysconf(_SC_CLK_TCK) on Linux

/** The name and CPU times (ms) in a /proc/…/stat file; throws once the process or thread is gone. */
function statCpu(file: string): { name: string; userMs: number; systemMs: number } {
  const stat = readFileSync(file, 'utf8');
  // After the name: fields[0] is field 3 (state); utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return {
    name: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')),
    userMs: (Number(fields[11]) * 1000) / CLK_TCK,
    systemMs: (Number(fields[12]) * 1000) / CLK_TCK,
  };
}

/**
 * A process's CPU time split by thread: the main thread (the event loop: HTTP, oidc-provider, the
 * IdP's code, knex), libuv's pool (argon2 and SQLite statements) and the rest (V8's GC and compiler
 * helpers), ms. Threads that ended are missing, so the sum can be below procCpuMs.
 */
export function threadCpuMs(pid: number): { main: number; mainSystem: number; pool: number; other: number } {
  const split = { main: 0, mainSystem: 0, pool: 0, other: 0 };
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return { main: NaN, mainSystem: NaN, pool: NaN, other: NaN };
  }
  for (const tid of tids) {
    try {
      const { name, userMs, systemMs } = statCpu(`/proc/${pid}/task/${tid}/stat`);
      const ms = userMs + systemMs;
      if (tid === String(pid)) {
        split.main += ms;
        split.mainSystem += systemMs;
      } else if (name === 'libuv-worker') split.pool += ms;
      else split.other += ms;
    } catch {
      // the thread ended between readdir and read
    }
  }
  return split;
}

/**
 * CPU ms of every PostgreSQL process on this machine (backends, WAL writer, checkpointer…), for a
 * database on loopback: what the database costs is then part of what a login costs the machine,
 * not load from elsewhere. Processes that ended between two calls are missing.
 */
export function postgresCpuMs(): number {
  let sum = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const { name, userMs, systemMs } = statCpu(`/proc/${entry}/stat`);
      if (name === 'postgres') sum += userMs + systemMs;
    } catch {
      // the process ended between readdir and read
    }
  }
  return sum;
}

/** CPU ms the whole machine spent busy (all CPUs; idle and iowait excluded) and stolen by the hypervisor. */
export function machineCpuMs(): { busy: number; steal: number } {
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
export async function measured<T>(
  pids: number[],
  phase: () => Promise<T>,
  database?: () => number,
): Promise<{ value: T; foreignCpu: number; stealCpu: number; databaseMs: number; ms: number }> {
  const db0 = database?.() ?? 0;
  const own0 = pids.reduce((sum, pid) => sum + procCpuMs(pid), 0) + selfCpuMs();
  const machine0 = machineCpuMs();
  const t0 = performance.now();
  const value = await phase();
  const ms = performance.now() - t0;
  const own = pids.reduce((sum, pid) => sum + procCpuMs(pid), 0) + selfCpuMs() - own0;
  const machine = machineCpuMs();
  const databaseMs = (database?.() ?? 0) - db0;
  return {
    value,
    foreignCpu: Math.max(0, machine.busy - machine0.busy - own - databaseMs) / ms,
    stealCpu: (machine.steal - machine0.steal) / ms,
    databaseMs,
    ms,
  };
}

export function accumulate(sum: { cpuMs: number; stealMs: number; ms: number }, phase: { foreignCpu: number; stealCpu: number; ms: number }) {
  return { cpuMs: sum.cpuMs + phase.foreignCpu * phase.ms, stealMs: sum.stealMs + phase.stealCpu * phase.ms, ms: sum.ms + phase.ms };
}

export function selfCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

export const round = (n: number, digits = 1) => (Number.isFinite(n) ? Number(n.toFixed(digits)) : null);

export interface LoopResult {
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
export async function closedLoop(concurrency: number, seconds: number, task: (n: number) => Promise<void>, ramp = 0.25): Promise<LoopResult> {
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
export function combine(parts: LoopResult[]): LoopResult {
  return {
    inWindow: parts.reduce((s, p) => s + p.inWindow, 0),
    windowMs: parts.reduce((s, p) => s + p.windowMs, 0),
    latencies: parts.flatMap((p) => p.latencies).sort((x, y) => x - y),
    completed: parts.reduce((s, p) => s + p.completed, 0),
    failures: parts.reduce((s, p) => s + p.failures, 0),
    errors: parts.flatMap((p) => p.errors).slice(0, 5),
  };
}

