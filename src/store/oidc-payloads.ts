/** Storage for oidc-provider artefacts (sessions, codes, tokens, grants, interactions). */
import type { Knex } from 'knex';

export interface StoredPayload {
  payload: Record<string, unknown>;
  consumedAt: number | null;
}

interface PayloadRow {
  payload: string;
  consumed_at: string | number | null;
  expires_at: string | number | null;
}

export class OidcPayloadStore {
  readonly #db: Knex;
  constructor(db: Knex) {
    this.#db = db;
  }

  async upsert(model: string, id: string, payload: Record<string, unknown>, expiresAt: number | null): Promise<void> {
    const str = (v: unknown) => (typeof v === 'string' ? v : null);
    await this.#db('oidc_payloads')
      .insert({
        model,
        id,
        payload: JSON.stringify(payload),
        grant_id: str(payload.grantId),
        user_code: str(payload.userCode),
        uid: str(payload.uid),
        account_id: str(payload.accountId),
        expires_at: expiresAt,
        consumed_at: null,
      })
      .onConflict(['model', 'id'])
      .merge(['payload', 'grant_id', 'user_code', 'uid', 'account_id', 'expires_at']);
  }

  async #findWhere(where: Record<string, string>, now: number): Promise<StoredPayload | undefined> {
    const row = await this.#db<PayloadRow>('oidc_payloads')
      .where(where)
      .andWhere((q) => q.whereNull('expires_at').orWhere('expires_at', '>', now))
      .first('payload', 'consumed_at', 'expires_at');
    if (!row) return undefined;
    return { payload: JSON.parse(row.payload) as Record<string, unknown>, consumedAt: row.consumed_at === null ? null : Number(row.consumed_at) };
  }

  find(model: string, id: string, now: number): Promise<StoredPayload | undefined> {
    return this.#findWhere({ model, id }, now);
  }

  findByUid(model: string, uid: string, now: number): Promise<StoredPayload | undefined> {
    return this.#findWhere({ model, uid }, now);
  }

  findByUserCode(model: string, userCode: string, now: number): Promise<StoredPayload | undefined> {
    return this.#findWhere({ model, user_code: userCode }, now);
  }

  async destroy(model: string, id: string): Promise<void> {
    await this.#db('oidc_payloads').where({ model, id }).delete();
  }

  /** Marks an artefact consumed; true only for the one caller that did it first. */
  async consume(model: string, id: string, now: number): Promise<boolean> {
    const changed = await this.#db('oidc_payloads').where({ model, id }).whereNull('consumed_at').update({ consumed_at: now });
    return changed > 0;
  }

  /** Deletes every artefact of a grant, whatever its model. */
  async revokeByGrantId(grantId: string): Promise<number> {
    return this.#db('oidc_payloads').where({ grant_id: grantId }).delete();
  }

  /** Deletes every session, grant and token of an account, and everything issued from its grants. */
  async revokeAccount(accountId: string): Promise<number> {
    return this.#db.transaction(async (trx) => {
      const grants = trx('oidc_payloads').where({ model: 'Grant', account_id: accountId }).select('id');
      const byGrant = await trx('oidc_payloads').whereIn('grant_id', grants).delete();
      const direct = await trx('oidc_payloads').where({ account_id: accountId }).delete();
      return byGrant + direct;
    });
  }

  /** Deletes expired rows in batches; returns how many went. */
  async purgeExpired(now: number, batch = 1000): Promise<number> {
    let total = 0;
    for (;;) {
      const ids = this.#db('oidc_payloads').where('expires_at', '<=', now).limit(batch).select('model', 'id');
      const deleted = await this.#db('oidc_payloads').whereIn(['model', 'id'], ids).delete();
      total += deleted;
      if (deleted < batch) return total;
    }
  }
}
