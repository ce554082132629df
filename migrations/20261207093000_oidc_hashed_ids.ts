import { createHash } from 'node:crypto';
import type { Knex } from 'knex';

/**
 * oidc_payloads keeps no usable id (src/store/oidc-payloads.ts): every row's id and grant_id become
 * their base64url SHA-256, and the payload loses its `jti` (and an Interaction the session cookie
 * value it copied). Existing rows are rewritten, so sessions and tokens issued before the upgrade
 * keep working. The hashing is repeated here rather than imported, so this migration stays as it was
 * whatever the store later becomes.
 */
const hash = (id: string) => createHash('sha256').update(id, 'utf8').digest('base64url');
const BATCH = 500;

interface Row {
  model: string;
  id: string;
  payload: string;
  grant_id: string | null;
}

function storable(text: string): string {
  const { jti: _jti, ...rest } = JSON.parse(text) as Record<string, unknown>;
  const session = rest.session;
  if (session && typeof session === 'object' && 'cookie' in session) {
    const { cookie: _cookie, ...kept } = session as Record<string, unknown>;
    rest.session = kept;
  }
  return JSON.stringify(rest);
}

export async function up(knex: Knex): Promise<void> {
  // The keys first: rewriting a row changes its key, so paging through the table while rewriting
  // could meet a row twice.
  const keys = await knex('oidc_payloads').select('model', 'id').orderBy(['model', 'id']);
  for (let i = 0; i < keys.length; i += BATCH) {
    const batch = keys.slice(i, i + BATCH) as { model: string; id: string }[];
    const rows: Row[] = await knex('oidc_payloads')
      .whereIn(['model', 'id'], batch.map((k) => [k.model, k.id]))
      .select('model', 'id', 'payload', 'grant_id');
    for (const row of rows) {
      await knex('oidc_payloads')
        .where({ model: row.model, id: row.id })
        .update({ id: hash(row.id), payload: storable(row.payload), grant_id: row.grant_id === null ? null : hash(row.grant_id) });
    }
  }
}

/** A hash can't be turned back into the id: going down ends every session, grant and token. */
export async function down(knex: Knex): Promise<void> {
  await knex('oidc_payloads').delete();
}
