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
  await knex.schema.alterTable('sspr_methods', (t) => {
    t.dropColumn('set_by');
  });
  await knex.schema.alterTable('users', (t) => {
    t.dropIndex(['directory_dn']);
    t.dropColumn('directory_dn');
  });
}
