/**
 * Where does a login's time go? A diagnostic companion to login-bench.ts (not run by `npm run bench`).
 *
 * Runs the IdP in this process on a fresh SQLite file with its own knex instance, so every SQL
 * statement can be timed and attributed to the HTTP request that issued it, then runs sequential
 * code flows with the real relying party and prints, per step of the flow: requests, server time,
 * SQL statements (reads/writes) and SQL time, next to the argon2 verify time.
 *
 *   node test/bench/login-trace.ts [--logins 40] [--memory 19456] [--time 2]
 *                                  [--node-env production] [--synchronous normal]
 */
import http from 'node:http';
import { AsyncLocalStorage } from 'node:async_hooks';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import argon2 from 'argon2';
import { parseConfig } from '../../src/config/load.ts';
import { openDatabase } from '../../src/store/db.ts';
import { createIdp } from '../../src/app.ts';
import { createLogger } from '../../src/logging.ts';
import { createStore } from '../../src/store/index.ts';
import { createPasswordHasher } from '../../src/security/password.ts';
import { UserService } from '../../src/users/service.ts';
import { systemClock } from '../../src/clock.ts';
import { discover, login } from '../helpers/rp.ts';
import { RP_REDIRECT, listen, closeServer } from '../helpers/idp.ts';

const { values } = parseArgs({
  options: {
    logins: { type: 'string' },
    memory: { type: 'string' },
    time: { type: 'string' },
    'node-env': { type: 'string' },
    synchronous: { type: 'string' },
  },
  strict: true,
});
if (values['node-env'] !== undefined) process.env.NODE_ENV = values['node-env'];
const count = Number(values.logins ?? 40);
const params = { memoryCost: Number(values.memory ?? 19456), timeCost: Number(values.time ?? 2), parallelism: 1 };

interface Query {
  sql: string;
  ms: number;
}
interface RequestRecord {
  step: string;
  ms: number;
  /** Main-thread CPU between the request's arrival and its response's end (this process is otherwise idle). */
  cpuMs: number;
  queries: Query[];
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'oidc-sspr-trace-'));
const cleanup = () => rmSync(dir, { recursive: true, force: true });
process.on('exit', cleanup);
process.on('SIGINT', () => process.exit(130));

const als = new AsyncLocalStorage<RequestRecord>();
const records: RequestRecord[] = [];
const unattributed: Query[] = [];

function stepOf(method: string, url: string): string {
  const pathname = new URL(url, 'http://x').pathname.replace(/\/[A-Za-z0-9_-]{16,}/g, '/:id');
  return `${method} ${pathname}`;
}

function shape(sql: string, bindings: unknown[]): string {
  const verb = sql.trim().split(/\s+/)[0]!.toLowerCase();
  const table = /(?:from|into|update)\s+[`"]?(\w+)/i.exec(sql)?.[1] ?? '?';
  const models = /^(Session|Interaction|Grant|AuthorizationCode|AccessToken|RefreshToken|ClientCredentials|DeviceCode|BackchannelAuthenticationRequest|PushedAuthorizationRequest|ReplayDetection)$/;
  const found = table === 'oidc_payloads' ? bindings.find((b) => typeof b === 'string' && models.test(b)) : undefined;
  const model = found ? ` ${found as string}` : '';
  return `${verb} ${table}${model}`;
}

async function main(): Promise<void> {
  const server = http.createServer();
  const port = await listen(server);
  const issuer = `http://127.0.0.1:${port}`;
  const config = parseConfig({
    server: { issuer },
    database: { client: 'sqlite', filename: path.join(dir, 'idp.sqlite') },
    logging: { level: 'warn' },
    clients: [
      { clientId: 'trace-app', clientSecret: 'trace-app-secret-0123456789abcdef', redirectUris: [RP_REDIRECT], firstParty: true },
    ],
    passwords: { argon2: params },
  });
  const knex = openDatabase(config.database);
  if (values.synchronous) await knex.raw(`PRAGMA synchronous = ${values.synchronous.replace(/\W/g, '')}`);
  const started = new Map<string, { sql: string; t0: number; record: RequestRecord | undefined }>();
  knex.on('query', (q: { __knexQueryUid: string; sql: string; bindings?: unknown[] }) => {
    started.set(q.__knexQueryUid, { sql: shape(q.sql, q.bindings ?? []), t0: performance.now(), record: als.getStore() });
  });
  const done = (q: { __knexQueryUid: string }) => {
    const s = started.get(q.__knexQueryUid);
    if (!s) return;
    started.delete(q.__knexQueryUid);
    (s.record?.queries ?? unattributed).push({ sql: s.sql, ms: performance.now() - s.t0 });
  };
  knex.on('query-response', (_r: unknown, q: { __knexQueryUid: string }) => done(q));
  knex.on('query-error', (_e: unknown, q: { __knexQueryUid: string }) => done(q));

  const idp = await createIdp(config, { knex, logger: createLogger('warn') });
  const users = new UserService(createStore(knex), createPasswordHasher(() => params), systemClock);
  for (let i = 0; i < 10; i += 1) await users.create({ username: `trace${i}`, password: `trace password ${i}` });
  unattributed.length = 0;

  const handler = idp.app.callback();
  let recording = false;
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const record: RequestRecord = { step: stepOf(req.method ?? 'GET', req.url ?? '/'), ms: 0, cpuMs: 0, queries: [] };
    const t0 = performance.now();
    const cpu0 = process.threadCpuUsage();
    res.on('finish', () => {
      record.ms = performance.now() - t0;
      const cpu = process.threadCpuUsage(cpu0);
      record.cpuMs = (cpu.user + cpu.system) / 1000;
      if (recording) records.push(record);
    });
    als.run(record, () => handler(req, res));
  });

  const rp = await discover({ issuer, clientId: 'trace-app', clientSecret: 'trace-app-secret-0123456789abcdef' });
  for (let i = 0; i < 3; i += 1) await login(rp, `trace${i}`, `trace password ${i}`);

  const hash = await argon2.hash('x', { type: argon2.argon2id, ...params });
  const verifyMs: number[] = [];
  for (let i = 0; i < 10; i += 1) {
    const t0 = performance.now();
    await argon2.verify(hash, 'x');
    verifyMs.push(performance.now() - t0);
  }

  recording = true;
  const loginMs: number[] = [];
  const cpu0 = process.cpuUsage();
  const main0 = process.threadCpuUsage();
  for (let n = 0; n < count; n += 1) {
    const t0 = performance.now();
    await login(rp, `trace${n % 10}`, `trace password ${n % 10}`);
    loginMs.push(performance.now() - t0);
  }
  const cpu = process.cpuUsage(cpu0);
  const main = process.threadCpuUsage(main0);
  recording = false;

  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
  const steps = new Map<string, RequestRecord[]>();
  for (const r of records) steps.set(r.step, [...(steps.get(r.step) ?? []), r]);
  const lines: string[] = [];
  lines.push(`NODE_ENV=${process.env.NODE_ENV ?? '(unset)'}, synchronous=${values.synchronous ?? '(default)'}, argon2 m=${params.memoryCost} t=${params.timeCost}`);
  lines.push(`${count} sequential logins: median ${median(loginMs).toFixed(1)} ms; argon2 verify alone median ${median(verifyMs).toFixed(1)} ms`);
  lines.push(
    `CPU per login, server + RP: ${((cpu.user + cpu.system) / 1000 / count).toFixed(1)} ms in all threads (argon2 included), ` +
      `${((main.user + main.system) / 1000 / count).toFixed(1)} ms on the main thread`,
  );
  lines.push('');
  lines.push('step (per login)                          reqs  server ms (median)  main-thread CPU ms  SQL stmts  writes  SQL ms (median sum)');
  let totalQueries = 0;
  let totalWrites = 0;
  let totalServer = 0;
  let totalCpu = 0;
  for (const [step, rs] of steps) {
    const perLogin = rs.length / count;
    const queries = rs.reduce((s, r) => s + r.queries.length, 0) / rs.length;
    const writes = rs.reduce((s, r) => s + r.queries.filter((q) => !q.sql.startsWith('select')).length, 0) / rs.length;
    const sqlMs = median(rs.map((r) => r.queries.reduce((s, q) => s + q.ms, 0)));
    const serverMs = median(rs.map((r) => r.ms));
    const cpuMs = median(rs.map((r) => r.cpuMs));
    totalCpu += cpuMs * perLogin;
    totalQueries += queries * perLogin;
    totalWrites += writes * perLogin;
    totalServer += serverMs * perLogin;
    lines.push(
      `${step.padEnd(42)}${perLogin.toFixed(1).padStart(4)}  ${serverMs.toFixed(1).padStart(18)}  ${cpuMs.toFixed(1).padStart(18)}  ${queries.toFixed(1).padStart(9)}  ${writes.toFixed(1).padStart(6)}  ${sqlMs.toFixed(1).padStart(19)}`,
    );
  }
  lines.push(`${'total'.padEnd(42)}${''.padStart(4)}  ${totalServer.toFixed(1).padStart(18)}  ${totalCpu.toFixed(1).padStart(18)}  ${totalQueries.toFixed(1).padStart(9)}  ${totalWrites.toFixed(1).padStart(6)}`);
  const byShape = new Map<string, { n: number; ms: number[] }>();
  for (const q of records.flatMap((r) => r.queries)) {
    const e = byShape.get(q.sql) ?? { n: 0, ms: [] };
    e.n += 1;
    e.ms.push(q.ms);
    byShape.set(q.sql, e);
  }
  lines.push('');
  lines.push('SQL statement                              per login  median ms');
  for (const [sql, e] of [...byShape].sort((a, b) => b[1].n - a[1].n)) {
    lines.push(`${sql.padEnd(42)} ${(e.n / count).toFixed(1).padStart(9)}  ${median(e.ms).toFixed(2).padStart(9)}`);
  }
  lines.push('');
  lines.push('statements of one login, in order:');
  const firstLogin = records.slice(0, steps.size);
  for (const r of firstLogin) lines.push(`  ${r.step}: ${r.queries.map((q) => q.sql).join(', ') || '-'}`);
  if (unattributed.length) lines.push(`(${unattributed.length} statements not attributed to a request)`);
  process.stdout.write(`${lines.join('\n')}\n`);

  await closeServer(server);
  await idp.close();
  await knex.destroy();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`trace failed: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
