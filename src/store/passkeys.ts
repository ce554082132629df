/** Passkeys: WebAuthn challenges, and the lookups of a credential by its id across accounts. */
import { Repository, type Row } from './repository.ts';

/** Why a challenge can't be used: never issued (or purged), issued for another flow, used, expired. */
export type ChallengeRefusal = 'unknown' | 'other_flow' | 'used' | 'expired';

export interface StoredPasskey {
  /** The sspr_methods row. */
  id: string;
  userId: string;
  slot: string;
  label: string | null;
  value: string;
}

export class PasskeyStore extends Repository {
  async issue(challenge: string, binding: string, userId: string | null, now: number, expiresAt: number): Promise<void> {
    await this.db('webauthn_challenges').insert({ challenge, binding, user_id: userId, created_at: now, expires_at: expiresAt, consumed_at: null });
  }

  /**
   * Uses a challenge up: only an open, unexpired one issued for `binding`, and only once (one
   * conditional UPDATE, so two posts of the same response can't both pass). Otherwise says why.
   */
  async take(challenge: string, binding: string, now: number): Promise<{ ok: true; userId: string | null } | { ok: false; reason: ChallengeRefusal }> {
    const changed = await this.db('webauthn_challenges')
      .where({ challenge, binding })
      .whereNull('consumed_at')
      .andWhere('expires_at', '>', now)
      .update({ consumed_at: now });
    const row = await this.db<Row>('webauthn_challenges').where({ challenge }).first();
    if (changed > 0) return { ok: true, userId: (row?.user_id as string | null) ?? null };
    if (!row) return { ok: false, reason: 'unknown' };
    if (row.binding !== binding) return { ok: false, reason: 'other_flow' };
    if (row.consumed_at !== null) return { ok: false, reason: 'used' };
    return { ok: false, reason: 'expired' };
  }

  /** The passkey with this slot (a hash of the credential id), whoever it belongs to. */
  async find(slot: string): Promise<StoredPasskey | undefined> {
    const row = await this.db<Row>('sspr_methods').where({ kind: 'passkey', slot }).first();
    return row ? { id: String(row.id), userId: String(row.user_id), slot: String(row.slot), label: (row.label as string | null) ?? null, value: String(row.value) } : undefined;
  }

  /** Replaces a passkey's value only if it is still `previous` (a counter moves on once); true when it did. */
  async replace(id: string, previous: string, value: string, now: number): Promise<boolean> {
    return (await this.db('sspr_methods').where({ id, value: previous }).update({ value, updated_at: now })) > 0;
  }

  async rename(userId: string, slot: string, label: string, now: number): Promise<boolean> {
    return (await this.db('sspr_methods').where({ user_id: userId, kind: 'passkey', slot }).update({ label, updated_at: now })) > 0;
  }

  async purgeChallenges(now: number): Promise<number> {
    return this.db('webauthn_challenges').where('expires_at', '<=', now).delete();
  }
}
