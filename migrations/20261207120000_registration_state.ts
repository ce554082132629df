import type { Knex } from 'knex';

const STARTED = 'sspr.registration.started';

/**
 * Registration state in its own columns: when the registration interrupt was last shown to the
 * account and in which sign-in flow (so it is recorded once per flow without reading the audit
 * trail). Filled from each account's newest `sspr.registration.started` audit event.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('sspr_state', (t) => {
    t.bigInteger('registration_started_at').nullable();
    // The sign-in flow (interaction id) the interrupt was last shown in, as the audit trail names it.
    t.string('registration_flow', 128).nullable();
  });
  const events = await knex('audit_events as e')
    .join('users as u', 'u.id', 'e.user_id')
    .where('e.type', STARTED)
    .orderBy([{ column: 'e.at' }, { column: 'e.id' }])
    .select<{ user_id: string; at: number | string; flow_id: string | null }[]>('e.user_id', 'e.at', 'e.flow_id');
  const newest = new Map<string, { at: number; flow: string | null }>();
  for (const e of events) newest.set(String(e.user_id), { at: Number(e.at), flow: e.flow_id ?? null });
  for (const [userId, last] of newest) {
    await knex('sspr_state')
      .insert({ user_id: userId, confirmed_at: null, skips: 0, updated_at: last.at, registration_started_at: last.at, registration_flow: last.flow })
      .onConflict('user_id')
      .merge({ registration_started_at: last.at, registration_flow: last.flow });
  }
}

export async function down(knex: Knex): Promise<void> {
  if (knex.client.config.client === 'sqlite3') {
    // Not knex's table rebuild: SQLite's own DROP COLUMN changes the table in place (see 20261207000000_directory.ts).
    await knex.raw('ALTER TABLE sspr_state DROP COLUMN registration_flow');
    await knex.raw('ALTER TABLE sspr_state DROP COLUMN registration_started_at');
    return;
  }
  await knex.schema.alterTable('sspr_state', (t) => {
    t.dropColumn('registration_flow');
    t.dropColumn('registration_started_at');
  });
}
