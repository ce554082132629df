import type { Knex } from 'knex';

/**
 * What the directory sync did, so it undoes only that: which group memberships came from the
 * directory (the sync replaces those and leaves ones an administrator added here), and whether a
 * user was disabled because it was gone from the directory (re-enabled when it comes back; a user
 * an administrator disabled stays disabled).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('user_groups', (t) => {
    // 'directory' when the directory sync added this membership; null when an administrator did.
    t.string('set_by', 16).nullable();
  });
  await knex.schema.alterTable('users', (t) => {
    // 'directory' when the sync disabled the user (gone from the directory); null otherwise.
    t.string('disabled_by', 16).nullable();
  });
  // Until now the sync owned every group of a directory user.
  await knex('user_groups').whereIn('user_id', knex('users').whereNotNull('directory_dn').select('id')).update({ set_by: 'directory' });
}

export async function down(knex: Knex): Promise<void> {
  if (knex.client.config.client === 'sqlite3') {
    // SQLite's own DROP COLUMN changes the tables in place (knex's rebuild would cascade).
    await knex.raw('ALTER TABLE users DROP COLUMN disabled_by');
    await knex.raw('ALTER TABLE user_groups DROP COLUMN set_by');
    return;
  }
  await knex.schema.alterTable('users', (t) => t.dropColumn('disabled_by'));
  await knex.schema.alterTable('user_groups', (t) => t.dropColumn('set_by'));
}
