import type { Knex } from 'knex';

/**
 * Remembered devices for multi-factor sign-in (mfa.rememberDeviceDays): one row per device a user
 * asked to be remembered on, keyed by the SHA-256 of the random token in its signed cookie. A reset,
 * an administrator's set-password and a disable delete them; expired rows are purged.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('mfa_devices', (t) => {
    t.string('id_hash', 64).primary();
    t.string('user_id', 64).notNullable().references('id').inTable('users').onDelete('CASCADE');
    t.bigInteger('created_at').notNullable();
    t.bigInteger('expires_at').notNullable();
    t.bigInteger('last_used_at').nullable();
    t.index(['user_id']);
    t.index(['expires_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('mfa_devices');
}
