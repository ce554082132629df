/**
 * Prepared statements kept per SQLite connection. knex runs each query with the driver's
 * `Database#all` / `Database#run`, which prepare the SQL on the thread pool, run it there in a
 * second trip, and finalize it: two pool round trips, a parse and a statement object per query.
 * The IdP's statements are few and fixed (values are always bindings), so a connection keeps the
 * statement of each SQL text and runs it again with new bindings: one pool trip, no parse.
 *
 * Only data statements (select, insert, update, delete, with) are kept; transaction control,
 * pragmas and schema changes go through the driver as before. One knex connection runs one query
 * at a time, and a statement in use is never lent twice. The connection finalizes its statements
 * before it closes (sqlite3_close refuses while any is open).
 */
import type { Database, Statement } from 'sqlite3';

/** Statements kept per connection; the least recently used one is finalized beyond that. */
export const MAX_STATEMENTS = 200;

const DATA = /^\s*(select|insert|update|delete|with)\b/i;

type Callback = (this: unknown, err: Error | null, rows?: unknown) => void;

interface Kept {
  statement: Statement;
  busy: boolean;
}

/** Makes `db.all` and `db.run` reuse prepared statements, and `db.close` finalize them first. */
export function keepStatements(db: Database, max = MAX_STATEMENTS): void {
  const kept = new Map<string, Kept>();
  const original = { all: db.all.bind(db), run: db.run.bind(db), close: db.close.bind(db) };

  const evict = () => {
    for (const [sql, entry] of kept) {
      if (kept.size <= max) return;
      if (entry.busy) continue;
      kept.delete(sql);
      entry.statement.finalize();
    }
  };

  const execute = (method: 'all' | 'run', entry: Kept, params: unknown, callback: Callback) => {
    entry.busy = true;
    const done: Callback = function (err, rows) {
      entry.busy = false;
      callback.call(this, err, rows);
    };
    if (method === 'all') entry.statement.all(params, done);
    else entry.statement.run(params, done);
  };

  const via = (method: 'all' | 'run') =>
    function (this: Database, sql: string, params: unknown, callback: Callback): Database {
      if (typeof callback !== 'function' || !DATA.test(sql)) {
        return (original[method] as (...args: unknown[]) => Database)(...arguments);
      }
      const entry = kept.get(sql);
      if (entry && !entry.busy) {
        // Most recently used last, so eviction takes the oldest first.
        kept.delete(sql);
        kept.set(sql, entry);
        execute(method, entry, params, callback);
        return db;
      }
      if (entry) return (original[method] as (...args: unknown[]) => Database)(sql, params, callback);
      // Calls queued on a statement whose preparation fails are dropped without their callback,
      // so the first run waits for the preparation. Kept (busy) from the start: a query of the
      // same text meanwhile goes the driver's usual way.
      const fresh: Kept = { statement: undefined as unknown as Statement, busy: true };
      kept.set(sql, fresh);
      fresh.statement = db.prepare(sql, (err) => {
        if (err) {
          kept.delete(sql);
          callback.call(fresh.statement, err);
          return;
        }
        evict();
        execute(method, fresh, params, callback);
      });
      return db;
    };

  db.all = via('all') as Database['all'];
  db.run = via('run') as Database['run'];
  db.close = ((callback?: (err: Error | null) => void) => {
    const statements = [...kept.values()].map((entry) => entry.statement);
    kept.clear();
    let left = statements.length;
    if (!left) return original.close(callback);
    for (const statement of statements) {
      statement.finalize(() => {
        left -= 1;
        if (left === 0) original.close(callback);
      });
    }
  }) as Database['close'];
}
