import type { Knex } from 'knex';
import unhomoglyph from 'unhomoglyph';

/**
 * users.username_skeleton: the confusable skeleton of each username (src/users/names.ts), so a new
 * name that looks like an existing one is refused. Existing users get theirs; names that already
 * look alike stay (not unique), only new ones are checked. The computation is repeated here so
 * this migration stays as it was.
 */
const skeleton = (s: string) => unhomoglyph(s.normalize('NFD')).normalize('NFD');
const usernameSkeleton = (username: string) => skeleton(skeleton(username.normalize('NFKC').trim()).toLowerCase()).toLowerCase();

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.string('username_skeleton', 1024).nullable();
    t.index(['username_skeleton']);
  });
  let after = '';
  for (;;) {
    const rows: { id: string; username: string }[] = await knex('users').where('id', '>', after).orderBy('id').limit(500).select('id', 'username');
    if (rows.length === 0) return;
    for (const row of rows) await knex('users').where({ id: row.id }).update({ username_skeleton: usernameSkeleton(row.username) });
    after = rows[rows.length - 1]!.id;
  }
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => t.dropIndex(['username_skeleton']));
  if (knex.client.config.client === 'sqlite3') {
    // As in 20261207000000_directory.ts: SQLite's own DROP COLUMN, not knex's table rebuild (which cascades).
    await knex.raw('ALTER TABLE users DROP COLUMN username_skeleton');
    return;
  }
  await knex.schema.alterTable('users', (t) => t.dropColumn('username_skeleton'));
}
