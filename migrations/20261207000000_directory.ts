import type { Knex } from 'knex';

/**
 * The on-premises directory (src/directory/): which users came from it (their DN there) and
 * which recovery methods it set (a directory number the user can't change here).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    // DN of the user's entry in the directory; null for users created here.
    t.string('directory_dn', 1000).nullable();
    t.index(['directory_dn']);
  });
  await knex.schema.alterTable('sspr_methods', (t) => {
    // 'directory' when the directory sync set this value; null when the user or an administrator did.
    t.string('set_by', 16).nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  if (knex.client.config.client === 'sqlite3') {
    // knex rebuilds a SQLite table to drop a column, and dropping the old users table would cascade
    // to every row that references it: SQLite's own DROP COLUMN changes the table in place.
    await knex.raw('ALTER TABLE sspr_methods DROP COLUMN set_by');
    await knex.schema.alterTable('users', (t) => t.dropIndex(['directory_dn']));
    await knex.raw('ALTER TABLE users DROP COLUMN directory_dn');
    return;
  }
  await knex.schema.alterTable('sspr_methods', (t) => {
    t.dropColumn('set_by');
  });
  await knex.schema.alterTable('users', (t) => {
    t.dropIndex(['directory_dn']);
    t.dropColumn('directory_dn');
  });
}
