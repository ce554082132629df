/**
 * The plans of the hot statements on PostgreSQL: an IdP in this process on the bench's database,
 * every statement it runs recorded (knex's query event) while one login and one reset go through
 * it over HTTP, then each distinct statement explained with the bindings it ran with — reads with
 * EXPLAIN ANALYZE, writes with EXPLAIN alone (not executed again).
 */
import http from 'node:http';
import { writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { parseConfig } from '../../../src/config/load.ts';
import type { Config } from '../../../src/config/schema.ts';
import { createIdp } from '../../../src/app.ts';
import { createLogger } from '../../../src/logging.ts';
import { openDatabase } from '../../../src/store/db.ts';
import { Browser } from '../../helpers/browser.ts';
import { discover, login } from '../../helpers/rp.ts';
import { listen, closeServer, RP_REDIRECT } from '../../helpers/idp.ts';
import { benchConfig, CLIENT_ID, CLIENT_SECRET } from './scenario.ts';
import { PASSWORD, username, type DatabaseInput } from './seed.ts';
import { resetOnce } from './flows.ts';
import { root } from './servers.ts';
import type { BenchOptions } from '../login-bench.ts';

export interface Plan {
  flow: 'login' | 'reset';
  count: number;
  sql: string;
  plan: string[];
  seqScan: boolean;
  /** The plan with enable_seqscan off, when the real one read a table whole. */
  withoutSeqScan?: string[];
  /** An index serves it (directly, or once sequential scans are off). */
  indexed: boolean;
}

interface Seen {
  sql: string;
  bindings: unknown[];
  count: number;
  flow: 'login' | 'reset';
}

/** knex's SQL with ? placeholders, numbered for pg. */
function positional(sql: string): string {
  if (/\$1\b/.test(sql)) return sql;
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

export async function explainHotStatements(database: DatabaseInput, opts: BenchOptions, dir: string, say: (line: string) => void): Promise<Plan[]> {
  const db = openDatabase({ ...database, pool: { min: 0, max: 5 } } as Config['database'], dir);
  const seen = new Map<string, Seen>();
  let flow: 'login' | 'reset' = 'login';
  let recording = false;
  db.on('query', (q: { sql: string; bindings?: unknown[] }) => {
    if (!recording) return;
    const key = `${flow} ${q.sql}`;
    const entry = seen.get(key);
    if (entry) entry.count += 1;
    else seen.set(key, { sql: q.sql, bindings: q.bindings ?? [], count: 1, flow });
  });
  const server = http.createServer();
  const port = await listen(server);
  const issuer = `http://127.0.0.1:${port}`;
  const config = parseConfig(benchConfig(issuer, port, database, opts));
  const idp = await createIdp(config, { knex: db, logger: createLogger('warn'), cwd: dir });
  server.on('request', idp.app.callback());
  try {
    const rp = await discover({ issuer, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
    // Warm: the first login also reads keys and clients that later ones have cached.
    await login(rp, username(1), PASSWORD);
    const i = 3 + Math.floor(Math.random() * 1000);
    const shared = (await db('users').where({ username: username(i) }).first('password_hash'))?.password_hash;
    recording = true;
    await login(rp, username(2), PASSWORD);
    flow = 'reset';
    await resetOnce(new Browser([new URL(RP_REDIRECT).origin]), issuer, idp.parts.store, i, 0);
    recording = false;
    await db('users').where({ username: username(i) }).update({ password_hash: shared });

    const plans: Plan[] = [];
    const conn = (await db.client.acquireConnection()) as { query(text: string, values: unknown[]): Promise<{ rows: Record<string, string>[] }> };
    try {
      for (const s of [...seen.values()].sort((a, b) => b.count - a.count)) {
        const text = positional(s.sql);
        const read = /^\s*(select|with)\b/i.test(text) && !/\bfor update\b/i.test(text);
        if (!/^\s*(select|with|insert|update|delete)\b/i.test(text)) continue;
        let plan: string[];
        try {
          const result = await conn.query(`EXPLAIN (${read ? 'ANALYZE, ' : ''}COSTS OFF${read ? ', TIMING OFF, SUMMARY OFF' : ''}) ${text}`, s.bindings);
          plan = result.rows.map((r) => String(Object.values(r)[0]));
        } catch (error) {
          plan = [`(not explained: ${(error as Error).message})`];
        }
        const seqScan = plan.some((l) => /Seq Scan/.test(l));
        // On a table of a few rows the planner rightly reads it whole; what matters is whether an
        // index would serve the statement once the table is big: ask again with sequential scans off.
        let withoutSeqScan: string[] | undefined;
        if (seqScan) {
          try {
            await conn.query('SET enable_seqscan = off', []);
            const again = await conn.query(`EXPLAIN (COSTS OFF) ${text}`, s.bindings);
            withoutSeqScan = again.rows.map((r) => String(Object.values(r)[0]));
          } finally {
            await conn.query('RESET enable_seqscan', []);
          }
        }
        plans.push({ flow: s.flow, count: s.count, sql: s.sql, plan, seqScan, withoutSeqScan, indexed: !(withoutSeqScan ?? plan).some((l) => /Seq Scan/.test(l)) });
      }
    } finally {
      await db.client.releaseConnection(conn);
    }
    const short = (sql: string) => (sql.length > 110 ? `${sql.slice(0, 107)}...` : sql);
    for (const f of ['login', 'reset'] as const) {
      const mine = plans.filter((p) => p.flow === f);
      say(`  ${f}: ${mine.reduce((s, p) => s + p.count, 0)} statements, ${mine.length} distinct; sequential scans: ${mine.filter((p) => p.seqScan).length} (small tables), without an index: ${mine.filter((p) => !p.indexed).length}`);
      const node = (plan: string[]) => plan.find((l) => /Scan|Insert|Update|Delete|Result/.test(l))?.trim() ?? plan[0];
      for (const p of mine) {
        say(`    ×${p.count} ${short(p.sql)}\n       ${node(p.plan)}${p.withoutSeqScan ? `  (seqscan off: ${node(p.withoutSeqScan)})` : ''}${p.indexed ? '' : '  NO INDEX'}`);
      }
    }
    const outDir = path.join(root, 'test/output');
    mkdirSync(outDir, { recursive: true });
    const file = path.join(outDir, `explain-${new Date().toISOString().replace(/[:.]/g, '-')}.md`);
    writeFileSync(
      file,
      plans
        .map((p) => `### ${p.flow} ×${p.count}${p.indexed ? '' : ' (no index)'}\n\n\`\`\`sql\n${p.sql}\n\`\`\`\n\n\`\`\`\n${p.plan.join('\n')}\n\`\`\`\n${p.withoutSeqScan ? `\nWith enable_seqscan off:\n\n\`\`\`\n${p.withoutSeqScan.join('\n')}\n\`\`\`\n` : ''}`)
        .join('\n'),
    );
    say(`  plans in ${path.relative(process.cwd(), file)}`);
    return plans;
  } finally {
    await closeServer(server);
    await idp.close();
    await db.destroy();
  }
}

