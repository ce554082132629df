import type { Knex } from 'knex';

/** Password reset flows, used CAPTCHA solutions, and sign-in lockout state. */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('reset_flows', (t) => {
    // SHA-256 of the random id the browser holds in a cookie.
    t.string('id_hash', 64).primary();
    // Null for an unknown user id: the flow then behaves like "not registered".
    t.string('user_id', 64).nullable().references('id').inTable('users').onDelete('CASCADE');
    t.string('state', 32).notNullable();
    // JSON: methods proven so far, the current challenge (question ids drawn, method chosen), etc.
    t.text('data').notNullable();
    // Optimistic concurrency: every transition is UPDATE ... WHERE version = ?.
    t.integer('version').notNullable().defaultTo(0);
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
    t.bigInteger('expires_at').notNullable();
    t.index(['expires_at']);
    t.index(['user_id']);
  });

  await knex.schema.createTable('captcha_solutions', (t) => {
    // A solved challenge may be used once: its signature is kept until it expires.
    t.string('signature', 128).primary();
    t.bigInteger('expires_at').notNullable();
    t.index(['expires_at']);
  });

  // The last authenticator time step accepted, so a code can't be replayed.
  await knex.schema.alterTable('sspr_methods', (t) => {
    t.bigInteger('last_used_step').nullable();
  });

  await knex.schema.alterTable('users', (t) => {
    t.integer('failed_signins').notNullable().defaultTo(0);
    t.integer('lockouts').notNullable().defaultTo(0);
    t.bigInteger('locked_until').nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.dropColumn('locked_until');
    t.dropColumn('lockouts');
    t.dropColumn('failed_signins');
  });
  await knex.schema.alterTable('sspr_methods', (t) => {
    t.dropColumn('last_used_step');
  });
  await knex.schema.dropTableIfExists('captcha_solutions');
  await knex.schema.dropTableIfExists('reset_flows');
}
