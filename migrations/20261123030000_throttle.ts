import type { Knex } from 'knex';

/**
 * Throttling counters shared by every instance (src/security/throttle.ts): one row per key holding a
 * fixed-window counter and/or a block. Times are epoch milliseconds from the application clock.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('throttle_counters', (t) => {
    // The key as given (e.g. signin:ip:1.2.3.4), or sha256:<hex> of keys longer than 200 characters.
    t.string('key', 255).primary();
    // Events counted in the current window.
    t.integer('points').notNullable().defaultTo(0);
    // End of the current window; null when the key only carries a block.
    t.bigInteger('window_expires_at').nullable();
    // The key is blocked until then.
    t.bigInteger('blocked_until').nullable();
    // The later of window_expires_at and blocked_until: after it the row means nothing and is purged.
    t.bigInteger('expires_at').notNullable();
    t.index(['expires_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('throttle_counters');
}
