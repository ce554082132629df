import type { Knex } from 'knex';

/** Recovery methods, security answers, registration state, one-time challenges and the outbox. */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('sspr_methods', (t) => {
    t.string('user_id', 64).notNullable().references('id').inTable('users').onDelete('CASCADE');
    // email | mobile_phone | office_phone | authenticator_app
    t.string('kind', 32).notNullable();
    // The address or number; for the authenticator app the encrypted secret.
    t.text('value').notNullable();
    t.bigInteger('verified_at').nullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
    t.primary(['user_id', 'kind']);
  });

  await knex.schema.createTable('sspr_security_answers', (t) => {
    t.string('user_id', 64).notNullable().references('id').inTable('users').onDelete('CASCADE');
    t.string('question_id', 64).notNullable();
    t.text('answer_hash').notNullable();
    t.bigInteger('created_at').notNullable();
    t.primary(['user_id', 'question_id']);
  });

  await knex.schema.createTable('sspr_state', (t) => {
    t.string('user_id', 64).primary().references('id').inTable('users').onDelete('CASCADE');
    // Last time the user registered or reconfirmed their methods.
    t.bigInteger('confirmed_at').nullable();
    t.integer('skips').notNullable().defaultTo(0);
    t.bigInteger('updated_at').notNullable();
  });

  await knex.schema.createTable('sspr_challenges', (t) => {
    t.string('id', 64).primary();
    t.string('user_id', 64).notNullable().references('id').inTable('users').onDelete('CASCADE');
    // What the code proves, e.g. register:email or reset:mobile_phone.
    t.string('purpose', 64).notNullable();
    // SHA-256 of the normalised address the code went to: binds the code to it.
    t.string('target_key', 64).notNullable();
    // Value waiting for verification (an address, or an encrypted authenticator secret).
    t.text('pending_value').nullable();
    // HMAC of the code; null for challenges without a sent code (authenticator app).
    t.string('code_hash', 128).nullable();
    t.integer('attempts').notNullable().defaultTo(0);
    t.integer('sends').notNullable().defaultTo(0);
    t.bigInteger('last_sent_at').nullable();
    t.bigInteger('expires_at').notNullable();
    t.bigInteger('consumed_at').nullable();
    t.bigInteger('created_at').notNullable();
    t.index(['user_id', 'purpose']);
    t.index(['expires_at']);
  });

  // Sessions of the security-info page (manage methods any time), apart from OIDC sessions.
  await knex.schema.createTable('account_sessions', (t) => {
    // SHA-256 of the cookie value: a stolen database gives no usable session.
    t.string('id_hash', 64).primary();
    t.string('user_id', 64).notNullable().references('id').inTable('users').onDelete('CASCADE');
    t.bigInteger('authenticated_at').notNullable();
    t.bigInteger('expires_at').notNullable();
    t.bigInteger('created_at').notNullable();
    t.index(['expires_at']);
  });

  // Append-only record of what happened; never secrets or codes.
  await knex.schema.createTable('audit_events', (t) => {
    t.bigIncrements('id').primary();
    t.bigInteger('at').notNullable();
    t.string('type', 64).notNullable();
    t.string('user_id', 64).nullable();
    t.string('client_id', 256).nullable();
    t.string('ip', 64).nullable();
    t.string('flow_id', 128).nullable();
    t.string('outcome', 32).notNullable();
    t.text('details').nullable();
    t.index(['at']);
    t.index(['user_id', 'at']);
    t.index(['type', 'at']);
  });

  await knex.schema.createTable('outbox', (t) => {
    t.increments('id').primary();
    // email | sms | voice
    t.string('channel', 16).notNullable();
    t.string('recipient', 320).notNullable();
    t.string('subject', 512).nullable();
    t.text('body').notNullable();
    t.string('user_id', 64).nullable();
    t.bigInteger('created_at').notNullable();
    t.index(['recipient']);
    t.index(['user_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('outbox');
  await knex.schema.dropTableIfExists('audit_events');
  await knex.schema.dropTableIfExists('account_sessions');
  await knex.schema.dropTableIfExists('sspr_challenges');
  await knex.schema.dropTableIfExists('sspr_state');
  await knex.schema.dropTableIfExists('sspr_security_answers');
  await knex.schema.dropTableIfExists('sspr_methods');
}
