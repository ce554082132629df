/**
 * Storage for oidc-provider artefacts (sessions, codes, tokens, grants, interactions).
 *
 * No row holds a usable id: the `id` column is the SHA-256 of the artefact's id (the access token,
 * refresh token, code, session cookie value, ...), `grant_id` that of the grant's id, and the payload
 * is stored without its `jti`. A lookup by id hashes the id it is given; a lookup by uid or user code
 * (their own columns) cannot know the id, so it returns `jti` as the stored hash marked with
 * `sha256:`, which writes (upsert, destroy, consume) take as the stored key and reads never do — so
 * the hash read from the table is no key to anything. Unkeyed: the ids are at least 126 random bits,
 * beyond any guessing, and a key would only add a secret whose loss ends every session.
 *
 * The statements every authorization runs (find, upsert, destroy, consume: 15 of a login's 22) are
 * fixed SQL text run with knex.raw, valid on PostgreSQL and SQLite alike: building and compiling
 * a knex query each time cost more main-thread time than running it on SQLite. On PostgreSQL they
 * run as named prepared statements (raw.ts: fixedStatement), parsed and planned once per connection.
 */
import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import { rowsOf, fixedStatement } from './raw.ts';
import { Repository } from './repository.ts';

/** Marks an id that is already the stored hash (see above). Real ids never hold a ':'. */
const HASHED = 'sha256:';

/** The stored form of an artefact's id (and of a grant id): base64url SHA-256. */
export function hashOidcId(id: string): string {
  return createHash('sha256').update(id, 'utf8').digest('base64url');
}

/** Key for a write: the hash of the id, or the hash itself when it comes marked from a uid lookup. */
const writeKey = (id: string) => (id.startsWith(HASHED) ? id.slice(HASHED.length) : hashOidcId(id));

/** The payload as stored: without its id, and an Interaction without the session cookie value it copies. */
function storable(payload: Record<string, unknown>): Record<string, unknown> {
  const { jti: _jti, ...rest } = payload;
  const session = rest.session;
  if (session && typeof session === 'object' && 'cookie' in session) {
    const { cookie: _cookie, ...kept } = session as Record<string, unknown>;
    rest.session = kept;
  }
  return rest;
}

export interface StoredPayload {
  payload: Record<string, unknown>;
  consumedAt: number | null;
}

interface PayloadRow {
  id: string;
  payload: string;
  consumed_at: string | number | null;
}

const UPSERT =
  'insert into oidc_payloads (model, id, payload, grant_id, user_code, uid, account_id, expires_at, consumed_at) ' +
  'values (?, ?, ?, ?, ?, ?, ?, ?, null) on conflict (model, id) do update set payload = excluded.payload, ' +
  'grant_id = excluded.grant_id, user_code = excluded.user_code, uid = excluded.uid, account_id = excluded.account_id, expires_at = excluded.expires_at';
const LIVE = '(expires_at is null or expires_at > ?)';
const FIND_BY = {
  id: `select id, payload, consumed_at from oidc_payloads where model = ? and id = ? and ${LIVE} limit 1`,
  uid: `select id, payload, consumed_at from oidc_payloads where model = ? and uid = ? and ${LIVE} limit 1`,
  user_code: `select id, payload, consumed_at from oidc_payloads where model = ? and user_code = ? and ${LIVE} limit 1`,
} as const;
const DESTROY = 'delete from oidc_payloads where model = ? and id = ?';
const CONSUME = 'update oidc_payloads set consumed_at = ? where model = ? and id = ? and consumed_at is null returning id';

export class OidcPayloadStore extends Repository {
  async upsert(model: string, id: string, payload: Record<string, unknown>, expiresAt: number | null): Promise<void> {
    const str = (v: unknown) => (typeof v === 'string' ? v : null);
    const grantId = str(payload.grantId);
    await fixedStatement(this.db, UPSERT, [
      model,
      writeKey(id),
      JSON.stringify(storable(payload)),
      grantId === null ? null : hashOidcId(grantId),
      str(payload.userCode),
      str(payload.uid),
      str(payload.accountId),
      expiresAt,
    ]);
  }

  /** The row found, its payload with `jti` set back: the id looked up, or (by uid, user code) the marked hash. */
  async #findBy(column: keyof typeof FIND_BY, model: string, value: string, now: number, jti?: string): Promise<StoredPayload | undefined> {
    const row = rowsOf<PayloadRow>(await fixedStatement(this.db, FIND_BY[column], [model, value, now]))[0];
    if (!row) return undefined;
    const payload = { ...(JSON.parse(row.payload) as Record<string, unknown>), jti: jti ?? HASHED + row.id };
    return { payload, consumedAt: row.consumed_at === null ? null : Number(row.consumed_at) };
  }

  /** By the artefact's id; always hashed, so a hash read from the table finds nothing. */
  find(model: string, id: string, now: number): Promise<StoredPayload | undefined> {
    return this.#findBy('id', model, hashOidcId(id), now, id);
  }

  findByUid(model: string, uid: string, now: number): Promise<StoredPayload | undefined> {
    return this.#findBy('uid', model, uid, now);
  }

  findByUserCode(model: string, userCode: string, now: number): Promise<StoredPayload | undefined> {
    return this.#findBy('user_code', model, userCode, now);
  }

  async destroy(model: string, id: string): Promise<void> {
    await fixedStatement(this.db, DESTROY, [model, writeKey(id)]);
  }

  /** Marks an artefact consumed; true only for the one caller that did it first. */
  async consume(model: string, id: string, now: number): Promise<boolean> {
    return rowsOf(await fixedStatement(this.db, CONSUME, [now, model, writeKey(id)])).length > 0;
  }

  /** Deletes every artefact of a grant, whatever its model. */
  async revokeByGrantId(grantId: string): Promise<number> {
    return this.db('oidc_payloads').where({ grant_id: hashOidcId(grantId) }).delete();
  }

  /** Deletes every session, grant and token of an account, and everything issued from its grants. */
  async revokeAccount(accountId: string): Promise<number> {
    return this.db.transaction((trx) => revokeAccountIn(trx, accountId));
  }

  /** signOutEverywhereIn in a transaction of its own: what disabling an account ends. */
  async signOutEverywhere(accountId: string): Promise<void> {
    await this.db.transaction((trx) => signOutEverywhereIn(trx, accountId));
  }

  /** Deletes expired rows in batches; returns how many went. */
  async purgeExpired(now: number, batch = 1000): Promise<number> {
    let total = 0;
    for (;;) {
      const ids = this.db('oidc_payloads').where('expires_at', '<=', now).limit(batch).select('model', 'id');
      const deleted = await this.db('oidc_payloads').whereIn(['model', 'id'], ids).delete();
      total += deleted;
      if (deleted < batch) return total;
    }
  }
}

/** revokeAccount inside a transaction of the caller's. */
export async function revokeAccountIn(trx: Knex.Transaction, accountId: string): Promise<number> {
  const grants = trx('oidc_payloads').where({ model: 'Grant', account_id: accountId }).select('id');
  const byGrant = await trx('oidc_payloads').whereIn('grant_id', grants).delete();
  const direct = await trx('oidc_payloads').where({ account_id: accountId }).delete();
  return byGrant + direct;
}

/**
 * What a password reset ends, inside the caller's transaction: every oidc-provider session, grant
 * and token of the account (revokeAccountIn), every /security-info session and every device
 * remembered for multi-factor sign-in.
 */
export async function signOutEverywhereIn(trx: Knex.Transaction, accountId: string): Promise<void> {
  await revokeAccountIn(trx, accountId);
  await trx('account_sessions').where({ user_id: accountId }).delete();
  await trx('mfa_devices').where({ user_id: accountId }).delete();
}
