/**
 * Directory benchmark (`npm run bench:directory`): figures, not a test.
 *
 * For each size (10,000 and 100,000 entries by default) a real slapd (test/helpers/slapd.ts, ppolicy
 * on) is seeded in one slapadd run before it starts, with the users spread over 10 groups; then
 * DirectorySync runs into a fresh SQLite file (or PostgreSQL with OIDC_SSPR_TEST_DB=postgres):
 * a first sync (everything created) and a second (nothing changes). Prints the time of each and the
 * peak RSS of this process during the sync (sampled every 20 ms) above the RSS before it.
 *
 * In the same run, against the smaller directory: sign-in p50/p90 through UserService.signIn for a
 * directory user (a bind as the user, pass-through) and for a local user (argon2id with the
 * default parameters of the configuration), `--signins` sequential sign-ins each, alternating.
 *
 *   node_modules/.bin/node test/bench/directory-bench.ts [--sizes 10000,100000] [--signins 200] [--page-size 500]
 *
 * The RSS peak of a first sync is mostly garbage V8 has not collected yet (the heap kept after it
 * is a few MB): 30,000 entries sync with `--max-old-space-size=96` at +27 MB RSS. What stays grows
 * with the number of usernames (the seen set, group member lists, the report): 100,000 entries
 * do not fit in a 128 MB heap next to this script's own seed records.
 */
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { parseConfig } from '../../src/config/load.ts';
import { openDatabase, migrateLatest } from '../../src/store/db.ts';
import { createStore } from '../../src/store/index.ts';
import { UserService } from '../../src/users/service.ts';
import { createPasswordHasher } from '../../src/security/password.ts';
import { createLogger } from '../../src/logging.ts';
import { systemClock } from '../../src/clock.ts';
import { DirectoryClient } from '../../src/directory/client.ts';
import { DirectorySync } from '../../src/directory/sync.ts';
import { directoryPasswordCheck } from '../../src/directory/runtime.ts';
import { freshDatabase } from '../helpers/db.ts';
import { startSlapd, BASE_DN, SERVICE_DN, SERVICE_PASSWORD, type SeedUser, type TestSlapd } from '../helpers/slapd.ts';

const { values } = parseArgs({ options: { sizes: { type: 'string', default: '10000,100000' }, signins: { type: 'string', default: '200' }, 'page-size': { type: 'string', default: '500' } } });
const sizes = values.sizes.split(',').map(Number);
const signins = Number(values.signins);
const pageSize = Number(values['page-size']);
const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(0);
const out = (s: string) => process.stdout.write(`${s}\n`);

function seed(n: number): { users: SeedUser[]; groups: { cn: string; members: string[] }[] } {
  const users: SeedUser[] = [];
  for (let i = 0; i < n; i += 1) {
    users.push({ uid: `user${i}`, cn: `User ${i}`, sn: `${i}`, mail: `user${i}@example.org`, ...(i % 2 ? { mobile: `+31 6 ${String(10_000_000 + i).slice(-8)}` } : {}), password: `user ${i} directory pw` });
  }
  const groups = Array.from({ length: 10 }, (_, g) => ({ cn: `Group ${g}`, members: users.filter((_, i) => i % 10 === g).map((u) => u.uid) }));
  return { users, groups };
}

/**
 * Runs `work` while sampling RSS; returns its duration, the peak RSS above the RSS before, and the
 * heap still held after it (after a full GC with --expose-gc: what the sync keeps, e.g. its report).
 */
async function measured<T>(work: () => Promise<T>): Promise<{ result: T; seconds: number; peakRss: number; peakAbove: number; peakHeapAbove: number; heapKept: number }> {
  global.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const before = process.memoryUsage().rss;
  let peak = before;
  let peakHeap = heapBefore;
  const timer = setInterval(() => {
    const m = process.memoryUsage();
    peak = Math.max(peak, m.rss);
    peakHeap = Math.max(peakHeap, m.heapUsed);
  }, 20);
  const start = performance.now();
  try {
    const result = await work();
    peak = Math.max(peak, process.memoryUsage().rss);
    const seconds = (performance.now() - start) / 1000;
    global.gc?.();
    return { result, seconds, peakRss: peak, peakAbove: peak - before, peakHeapAbove: peakHeap - heapBefore, heapKept: process.memoryUsage().heapUsed - heapBefore };
  } finally {
    clearInterval(timer);
  }
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

async function bench(n: number, withSignins: boolean): Promise<void> {
  const t0 = performance.now();
  const { users, groups } = seed(n);
  let slapd: TestSlapd | undefined;
  const db = await freshDatabase();
  try {
    slapd = await startSlapd({ users, groups });
    out(`\n${n} entries: slapd seeded and started in ${((performance.now() - t0) / 1000).toFixed(1)} s (database: ${db.kind})`);
    const config = parseConfig({
      database: db.config,
      directory: { url: slapd.url, bindDn: SERVICE_DN, bindPassword: SERVICE_PASSWORD, baseDn: `ou=people,${BASE_DN}`, groupBaseDn: `ou=groups,${BASE_DN}`, pageSize, timeouts: { operationSeconds: 120 } },
    });
    const knex = openDatabase(config.database);
    try {
      await migrateLatest(knex, config.database.schema);
      const store = createStore(knex);
      const hasher = createPasswordHasher(() => config.passwords.argon2);
      const client = new DirectoryClient(config.directory!);
      const service = new UserService(store, hasher, systemClock, () => config.lockout, directoryPasswordCheck(store, client));
      const sync = new DirectorySync({ client, store, clock: systemClock, log: createLogger('silent'), defaultCountry: () => 'NL' });
      const first = await measured(() => sync.run());
      out(`  first sync:  ${first.seconds.toFixed(1)} s (${(n / first.seconds).toFixed(0)} entries/s), ${first.result.created.length} created; peak RSS ${mb(first.peakRss)} MB (+${mb(first.peakAbove)} MB during the sync, JS heap peak +${mb(first.peakHeapAbove)} MB; heap kept after it, with the report: ${mb(first.heapKept)} MB)`);
      const second = await measured(() => sync.run());
      out(`  second sync: ${second.seconds.toFixed(1)} s, ${second.result.unchanged} unchanged; peak RSS ${mb(second.peakRss)} MB (+${mb(second.peakAbove)} MB, JS heap peak +${mb(second.peakHeapAbove)} MB; heap kept ${mb(second.heapKept)} MB)`);
      if (withSignins) {
        await service.create({ username: 'local-bench', password: 'local bench password 1' });
        const times = { directory: [] as number[], local: [] as number[] };
        for (let i = 0; i < signins; i += 1) {
          const u = i % n;
          let start = performance.now();
          const d = await service.signIn(`user${u}`, `user ${u} directory pw`);
          times.directory.push(performance.now() - start);
          start = performance.now();
          const l = await service.signIn('local-bench', 'local bench password 1');
          times.local.push(performance.now() - start);
          if (!d.ok || !l.ok) throw new Error(`sign-in failed: directory ${JSON.stringify(d)}, local ${JSON.stringify(l)}`);
        }
        const a = config.passwords.argon2;
        for (const [kind, list] of Object.entries(times)) {
          const sorted = list.sort((x, y) => x - y);
          out(`  sign-in ${kind.padEnd(9)} p50 ${percentile(sorted, 50).toFixed(1)} ms, p90 ${percentile(sorted, 90).toFixed(1)} ms (${signins} sequential)${kind === 'local' ? ` — argon2id m=${a.memoryCost} KiB t=${a.timeCost} p=${a.parallelism}` : ' — bind as the user'}`);
        }
      }
    } finally {
      await knex.destroy();
    }
  } finally {
    await slapd?.stop();
    await db.cleanup();
  }
}

out(`directory bench: sizes ${sizes.join(', ')}, page size ${pageSize}, node ${process.version}`);
for (const [i, n] of sizes.entries()) await bench(n, i === 0);
out(`\nmax RSS of this process over the whole run: ${mb(process.resourceUsage().maxRSS * 1024)} MB (includes building the seed LDIF)`);
