/**
 * What one statement costs on PostgreSQL, by the way the store runs it: a knex query built per
 * call, fixed SQL text through knex.raw, and fixed SQL text as a named prepared statement
 * (store/raw.ts: fixedStatement). Prints the CPU per statement of this process and of the
 * PostgreSQL backend serving it (read from /proc, so PostgreSQL on this machine), medians of
 * rounds alternating between the three. Figures, not a test.
 *
 *   node test/bench/statement-bench.ts [--statements 3000] [--rounds 5] [--pg-url URL]
 */
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import knexFactory from 'knex';
import { fixedStatement, rowsOf } from '../../src/store/raw.ts';

const { values } = parseArgs({ options: { statements: { type: 'string' }, rounds: { type: 'string' }, 'pg-url': { type: 'string' } }, strict: true });
const count = Number(values.statements ?? 3000);
const rounds = Number(values.rounds ?? 5);
const url = values['pg-url'] ?? process.env.OIDC_SSPR_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const schema = `bench_stmt_${randomBytes(4).toString('hex')}`;

// One connection: the backend whose CPU is read is the one running every statement.
const db = knexFactory({ client: 'pg', connection: url, searchPath: [schema], pool: { min: 1, max: 1 } });
await db.raw('create schema ??', [schema]);
try {
  await db.schema.createTable('oidc_payloads', (t) => {
    t.string('model', 30);
    t.string('id', 64);
    t.text('payload');
    t.bigInteger('expires_at');
    t.primary(['model', 'id']);
  });
  await db('oidc_payloads').insert({ model: 'Session', id: 'abc', payload: '{"a":1}', expires_at: null });
  const SQL = 'select id, payload, expires_at from oidc_payloads where model = ? and id = ? and (expires_at is null or expires_at > ?) limit 1';
  const ways: Record<string, () => Promise<unknown>> = {
    'knex query built per call': () =>
      db('oidc_payloads')
        .where({ model: 'Session', id: 'abc' })
        .andWhere((q) => q.whereNull('expires_at').orWhere('expires_at', '>', Date.now()))
        .first('id', 'payload', 'expires_at'),
    'fixed text, knex.raw': () => db.raw(SQL, ['Session', 'abc', Date.now()]),
    'fixed text, prepared (fixedStatement)': () => fixedStatement(db, SQL, ['Session', 'abc', Date.now()]),
  };
  const backend = rowsOf<{ pid: number }>(await db.raw('select pg_backend_pid() as pid'))[0]!.pid;
  const backendCpuUs = (): number => {
    try {
      const fields = readFileSync(`/proc/${backend}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return ((Number(fields[11]) + Number(fields[12])) * 1e6) / 100; // utime + stime, clock ticks of 10 ms
    } catch {
      return NaN; // PostgreSQL elsewhere
    }
  };
  const run = async (way: () => Promise<unknown>) => {
    const b0 = backendCpuUs();
    const c0 = process.cpuUsage();
    for (let i = 0; i < count; i += 1) await way();
    const c = process.cpuUsage(c0);
    return { node: (c.user + c.system) / count, pg: (backendCpuUs() - b0) / count };
  };
  for (const way of Object.values(ways)) await run(way); // warm up
  const seen: Record<string, { node: number[]; pg: number[] }> = {};
  for (let r = 0; r < rounds; r += 1) {
    for (const [name, way] of Object.entries(ways)) {
      const { node, pg } = await run(way);
      (seen[name] ??= { node: [], pg: [] }).node.push(node);
      seen[name].pg.push(pg);
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  process.stdout.write(`${count} statements × ${rounds} rounds, one connection; CPU µs per statement (median)\n`);
  for (const [name, s] of Object.entries(seen)) {
    process.stdout.write(`${name.padEnd(40)} node ${median(s.node).toFixed(0).padStart(4)}   PostgreSQL backend ${median(s.pg).toFixed(0).padStart(4)}\n`);
  }
} finally {
  await db.raw('drop schema ?? cascade', [schema]);
  await db.destroy();
}
