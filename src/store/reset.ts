/** Password reset flows and the changes a finished reset makes, each in one transaction. */
import type { Knex } from 'knex';
import { signOutEverywhereIn } from './oidc-payloads.ts';
import { Repository, type Row } from './repository.ts';

export interface ResetFlowRow {
  userId: string | null;
  state: string;
  data: Record<string, unknown>;
  version: number;
  createdAt: number;
  expiresAt: number;
}

export class ResetStore extends Repository {
  async create(idHash: string, flow: Omit<ResetFlowRow, 'version'>): Promise<void> {
    await this.db('reset_flows').insert({
      id_hash: idHash,
      user_id: flow.userId,
      state: flow.state,
      data: JSON.stringify(flow.data),
      version: 0,
      created_at: flow.createdAt,
      updated_at: flow.createdAt,
      expires_at: flow.expiresAt,
    });
  }

  async find(idHash: string, now: number): Promise<ResetFlowRow | undefined> {
    const row = await this.db<Row>('reset_flows').where({ id_hash: idHash }).andWhere('expires_at', '>', now).first();
    if (!row) return undefined;
    return {
      userId: (row.user_id as string | null) ?? null,
      state: String(row.state),
      data: JSON.parse(String(row.data)) as Record<string, unknown>,
      version: Number(row.version),
      createdAt: Number(row.created_at),
      expiresAt: Number(row.expires_at),
    };
  }

  /** Moves a flow on, only from the version it was read at: of two concurrent moves one wins. */
  async transition(idHash: string, fromVersion: number, state: string, data: Record<string, unknown>, now: number, trx?: Knex.Transaction): Promise<boolean> {
    const changed = await (trx ?? this.db)('reset_flows')
      .where({ id_hash: idHash, version: fromVersion })
      .update({ state, data: JSON.stringify(data), version: fromVersion + 1, updated_at: now });
    return changed > 0;
  }

  /**
   * The end of a successful reset, all or nothing: the flow moves to done (once), the new password
   * hash is stored, the lockout is cleared, and every session, grant and token of the account goes.
   * With `passwordHash` null only the lockout is cleared (unlock without reset).
   */
  /**
   * `passwordChanged` (the default when a hash is given): the password changed, so every session
   * and token ends; with a null hash it changed elsewhere (the directory) and no hash is kept here.
   * Otherwise (an unlock) only the lockout ends.
   */
  async finish(idHash: string, fromVersion: number, userId: string, passwordHash: string | null, data: Record<string, unknown>, now: number, passwordChanged = passwordHash !== null): Promise<boolean> {
    return this.db.transaction(async (trx) => {
      if (!(await this.transition(idHash, fromVersion, 'done', data, now, trx))) return false;
      const user: Record<string, unknown> = { failed_signins: 0, locked_until: null, updated_at: now };
      if (passwordChanged) {
        user.password_hash = passwordHash;
        user.password_changed_at = now;
      }
      await trx('users').where({ id: userId }).update(user);
      if (passwordChanged) await signOutEverywhereIn(trx, userId);
      return true;
    });
  }

  async purgeExpired(now: number): Promise<number> {
    return this.db('reset_flows').where('expires_at', '<=', now).delete();
  }

  /** Email addresses of enabled members of any of the groups (by lower-cased name), at most `limit`. */
  async memberEmails(groupKeys: string[], limit: number, exceptUserId?: string): Promise<string[]> {
    if (!groupKeys.length) return [];
    const q = this.db('users')
      .join('user_groups', 'user_groups.user_id', 'users.id')
      .join('groups', 'groups.id', 'user_groups.group_id')
      .whereIn('groups.name_key', groupKeys)
      .whereNotNull('users.email')
      .andWhere('users.status', 'enabled')
      .distinct('users.email')
      .orderBy('users.email')
      .limit(limit);
    if (exceptUserId) q.whereNot('users.id', exceptUserId);
    return (await q).map((r: { email: string }) => r.email);
  }

  /** Records the authenticator time step just accepted; false when it (or a later one) was used already. */
  async useTotpStep(userId: string, step: number): Promise<boolean> {
    const changed = await this.db('sspr_methods')
      .where({ user_id: userId, kind: 'authenticator_app' })
      .andWhere((q) => q.whereNull('last_used_step').orWhere('last_used_step', '<', step))
      .update({ last_used_step: step });
    return changed > 0;
  }
}
