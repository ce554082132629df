import type { Knex } from 'knex';

/** Users, groups, oidc-provider artefacts and the key store. Times are epoch milliseconds. */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('users', (t) => {
    t.string('id', 64).primary();
    t.string('username', 256).notNullable();
    // Lower-cased, NFKC-normalised username: the case-insensitive unique key.
    t.string('username_key', 256).notNullable().unique();
    t.string('display_name', 256).notNullable().defaultTo('');
    t.string('email', 320).nullable();
    t.boolean('email_verified').notNullable().defaultTo(false);
    t.string('status', 16).notNullable().defaultTo('enabled');
    t.string('password_source', 16).notNullable().defaultTo('cloud');
    t.text('password_hash').nullable();
    t.bigInteger('password_changed_at').nullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
  });

  await knex.schema.createTable('groups', (t) => {
    t.increments('id').primary();
    t.string('name', 256).notNullable();
    t.string('name_key', 256).notNullable().unique();
    t.bigInteger('created_at').notNullable();
  });

  await knex.schema.createTable('user_groups', (t) => {
    t.string('user_id', 64).notNullable().references('id').inTable('users').onDelete('CASCADE');
    t.integer('group_id').unsigned().notNullable().references('id').inTable('groups').onDelete('CASCADE');
    t.primary(['user_id', 'group_id']);
    t.index(['group_id']);
  });

  await knex.schema.createTable('oidc_payloads', (t) => {
    t.string('model', 64).notNullable();
    t.string('id', 512).notNullable();
    t.text('payload').notNullable();
    t.string('grant_id', 256).nullable();
    t.string('user_code', 256).nullable();
    t.string('uid', 256).nullable();
    t.string('account_id', 64).nullable();
    t.bigInteger('expires_at').nullable();
    t.bigInteger('consumed_at').nullable();
    t.primary(['model', 'id']);
    t.index(['grant_id']);
    t.index(['uid']);
    t.index(['account_id']);
    t.index(['user_code']);
    t.index(['expires_at']);
  });

  await knex.schema.createTable('keystore', (t) => {
    t.string('id', 128).primary();
    t.string('kind', 16).notNullable();
    t.text('material').notNullable();
    t.bigInteger('created_at').notNullable();
    // After this moment the key is no longer published nor used.
    t.bigInteger('retire_at').nullable();
    t.index(['kind']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('keystore');
  await knex.schema.dropTableIfExists('oidc_payloads');
  await knex.schema.dropTableIfExists('user_groups');
  await knex.schema.dropTableIfExists('groups');
  await knex.schema.dropTableIfExists('users');
}
