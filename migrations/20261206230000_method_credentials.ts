import type { Knex } from 'knex';

/**
 * Several credentials of one kind per user (a second phone, several passkeys): sspr_methods gets an
 * id of its own and a `slot` — '' for a kind a user has once, a credential's own key for a kind
 * a user may have several of — unique per (user, kind, slot), plus an optional label. Every existing
 * row is kept, in slot ''. The table is rebuilt (SQLite can't change a primary key in place).
 */
const COLUMNS = ['user_id', 'kind', 'value', 'verified_at', 'created_at', 'updated_at', 'last_used_step'];

/** INSERT INTO `to` (columns) SELECT expressions FROM `from` [where]; `??` in an expression takes the next of `bindings`. */
function copy(knex: Knex, from: string, to: string, columns: string[], expressions: string[], bindings: string[], where = '') {
  const sql = `INSERT INTO ?? (${columns.map(() => '??').join(', ')}) SELECT ${expressions.join(', ')} FROM ?? ${where}`;
  return knex.raw(sql, [to, ...columns, ...bindings, from]);
}

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('sspr_methods_next', (t) => {
    t.string('id', 64).primary();
    t.string('user_id', 64).notNullable().references('id').inTable('users').onDelete('CASCADE');
    t.string('kind', 32).notNullable();
    t.string('slot', 255).notNullable().defaultTo('');
    t.text('value').notNullable();
    t.string('label', 128).nullable();
    t.bigInteger('verified_at').nullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
    t.bigInteger('last_used_step').nullable();
    t.unique(['user_id', 'kind', 'slot'], { indexName: 'sspr_methods_user_kind_slot' });
  });
  // The old primary key (user_id, kind) makes `kind || ':' || user_id` a unique id for every old row.
  await copy(knex, 'sspr_methods', 'sspr_methods_next', ['id', ...COLUMNS], ["kind || ':' || user_id", ...COLUMNS.map(() => '??')], COLUMNS);
  await knex.schema.dropTable('sspr_methods');
  await knex.schema.renameTable('sspr_methods_next', 'sspr_methods');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.createTable('sspr_methods_prev', (t) => {
    t.string('user_id', 64).notNullable().references('id').inTable('users').onDelete('CASCADE');
    t.string('kind', 32).notNullable();
    t.text('value').notNullable();
    t.bigInteger('verified_at').nullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
    t.bigInteger('last_used_step').nullable();
    t.primary(['user_id', 'kind']);
  });
  // Only the first credential of a kind fits the old table: the others are dropped going down.
  await copy(knex, 'sspr_methods', 'sspr_methods_prev', COLUMNS, COLUMNS.map(() => '??'), COLUMNS, "WHERE slot = ''");
  await knex.schema.dropTable('sspr_methods');
  await knex.schema.renameTable('sspr_methods_prev', 'sspr_methods');
}
