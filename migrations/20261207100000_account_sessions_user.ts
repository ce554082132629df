import type { Knex } from 'knex';

/**
 * An index on account_sessions.user_id: a reset, a disable and an administrator's set-password end
 * the user's security-info sessions with `delete … where user_id = ?`, which read the whole table
 * without it (found by the bench's EXPLAIN at 1,000,000 users).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('account_sessions', (t) => {
    t.index(['user_id'], 'account_sessions_user_id_index');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('account_sessions', (t) => {
    t.dropIndex(['user_id'], 'account_sessions_user_id_index');
  });
}
