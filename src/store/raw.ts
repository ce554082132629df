/** Helpers for the few statements the store runs as fixed SQL text (knex.raw) on both databases. */
import { createHash } from 'node:crypto';
import type { Knex } from 'knex';

/** Rows of a knex.raw result: an array on SQLite, `{ rows }` on PostgreSQL. */
export function rowsOf<T>(result: unknown): T[] {
  return (Array.isArray(result) ? result : (result as { rows: T[] }).rows) as T[];
}

const names = new Map<string, string>();
/** Connections opened with `database.preparedStatements: false`: their fixed statements go unnamed. */
const unprepared = new WeakSet<Knex>();

/** Keeps this database's fixed statements unnamed (a pooler that does not keep prepared statements). */
export function withoutPreparedStatements(db: Knex): Knex {
  unprepared.add(db);
  return db;
}

/** The prepared statement's name of a SQL text: derived from the text, so one name never means two texts. */
function statementName(sql: string): string {
  let name = names.get(sql);
  if (name === undefined) {
    name = `sspr_${createHash('sha256').update(sql, 'utf8').digest('hex').slice(0, 24)}`;
    names.set(sql, name);
  }
  return name;
}

/**
 * Runs a fixed SQL text (values only as bindings). On PostgreSQL as a named prepared statement:
 * each connection parses and plans it once instead of on every run (about 60 µs of PostgreSQL CPU
 * per statement, which shares the machine with the IdP). A text with `*` is refused: a prepared
 * `select *` fails once a migration adds a column ("cached plan must not change result type"),
 * so those go unnamed. SQLite keeps its statements per connection already (sqlite-statements.ts).
 */
export function fixedStatement(db: Knex, sql: string, bindings: readonly Knex.RawBinding[]): Knex.Raw {
  const raw = db.raw(sql, bindings);
  if (db.client.config.client !== 'pg' || sql.includes('*') || unprepared.has(db)) return raw;
  return raw.options({ name: statementName(sql) });
}
