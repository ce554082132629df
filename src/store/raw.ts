/** Helpers for the few statements the store runs as fixed SQL text (knex.raw) on both databases. */

/** Rows of a knex.raw result: an array on SQLite, `{ rows }` on PostgreSQL. */
export function rowsOf<T>(result: unknown): T[] {
  return (Array.isArray(result) ? result : (result as { rows: T[] }).rows) as T[];
}
