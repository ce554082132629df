/** SSPR data: registered methods, security answers, registration state, one-time challenges. */
import { randomUUID } from 'node:crypto';
import { Repository, type Row } from './repository.ts';

export type StoredMethodKind = 'email' | 'mobile_phone' | 'office_phone' | 'authenticator_app' | 'passkey';

export interface StoredMethod {
  id: string;
  kind: StoredMethodKind;
  /** '' for a kind a user has once; a credential's own key where a user may have several. */
  slot: string;
  label: string | null;
  value: string;
  verifiedAt: number | null;
  createdAt: number;
  updatedAt: number;
}

export interface StoredAnswer {
  questionId: string;
  answerHash: string;
  createdAt: number;
}

export interface RegistrationState {
  confirmedAt: number | null;
  skips: number;
}

export interface Challenge {
  id: string;
  userId: string;
  purpose: string;
  targetKey: string;
  pendingValue: string | null;
  codeHash: string | null;
  attempts: number;
  sends: number;
  lastSentAt: number | null;
  expiresAt: number;
  consumedAt: number | null;
  createdAt: number;
}

const n = (v: unknown): number => Number(v);
const nn = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

function toChallenge(r: Row): Challenge {
  return {
    id: String(r.id),
    userId: String(r.user_id),
    purpose: String(r.purpose),
    targetKey: String(r.target_key),
    pendingValue: (r.pending_value as string | null) ?? null,
    codeHash: (r.code_hash as string | null) ?? null,
    attempts: n(r.attempts),
    sends: n(r.sends),
    lastSentAt: nn(r.last_sent_at),
    expiresAt: n(r.expires_at),
    consumedAt: nn(r.consumed_at),
    createdAt: n(r.created_at),
  };
}

export class SsprStore extends Repository {
  async methods(userId: string): Promise<StoredMethod[]> {
    const rows = await this.db<Row>('sspr_methods').where({ user_id: userId }).orderBy([{ column: 'kind' }, { column: 'created_at' }, { column: 'slot' }]);
    return rows.map((r) => ({
      id: String(r.id),
      kind: r.kind as StoredMethodKind,
      slot: String(r.slot),
      label: (r.label as string | null) ?? null,
      value: String(r.value),
      verifiedAt: nn(r.verified_at),
      createdAt: n(r.created_at),
      updatedAt: n(r.updated_at),
    }));
  }

  /**
   * Sets a credential's value (verified now): the one of its kind (slot ''), or the one in `slot`
   * where a user may have several. Returns the previous value, if any. It is then no longer one the
   * directory set.
   */
  async putMethod(userId: string, kind: StoredMethodKind, value: string, now: number, options: { slot?: string; label?: string } = {}): Promise<string | undefined> {
    const db = this.db;
    const slot = options.slot ?? '';
    const label = options.label ?? null;
    const previous = await db<Row>('sspr_methods').where({ user_id: userId, kind, slot }).first('value');
    await db('sspr_methods')
      .insert({ id: randomUUID(), user_id: userId, kind, slot, label, value, verified_at: now, created_at: now, updated_at: now })
      .onConflict(['user_id', 'kind', 'slot'])
      .merge({ value, label, verified_at: now, updated_at: now, set_by: null });
    return previous ? String(previous.value) : undefined;
  }

  /** Removes the user's credentials of a kind: all of them, or the one in `slot`. */
  async deleteMethod(userId: string, kind: StoredMethodKind, slot?: string): Promise<boolean> {
    return (await this.db('sspr_methods').where({ user_id: userId, kind, ...(slot === undefined ? {} : { slot }) }).delete()) > 0;
  }

  async answers(userId: string): Promise<StoredAnswer[]> {
    const rows = await this.db<Row>('sspr_security_answers').where({ user_id: userId }).orderBy('question_id');
    return rows.map((r) => ({ questionId: String(r.question_id), answerHash: String(r.answer_hash), createdAt: n(r.created_at) }));
  }

  /** Replaces all of a user's answers at once: never a half-registered set. */
  async replaceAnswers(userId: string, answers: { questionId: string; answerHash: string }[], now: number): Promise<void> {
    await this.db.transaction(async (trx) => {
      await trx('sspr_security_answers').where({ user_id: userId }).delete();
      if (answers.length) {
        await trx('sspr_security_answers').insert(
          answers.map((a) => ({ user_id: userId, question_id: a.questionId, answer_hash: a.answerHash, created_at: now })),
        );
      }
    });
  }

  async deleteAnswers(userId: string): Promise<boolean> {
    return (await this.db('sspr_security_answers').where({ user_id: userId }).delete()) > 0;
  }

  async state(userId: string): Promise<RegistrationState> {
    const row = await this.db<Row>('sspr_state').where({ user_id: userId }).first();
    return row ? { confirmedAt: nn(row.confirmed_at), skips: n(row.skips) } : { confirmedAt: null, skips: 0 };
  }

  /** Records that the user registered or reconfirmed their methods now. */
  async recordConfirmation(userId: string, now: number): Promise<void> {
    await this.db('sspr_state')
      .insert({ user_id: userId, confirmed_at: now, skips: 0, updated_at: now })
      .onConflict('user_id')
      .merge({ confirmed_at: now, skips: 0, updated_at: now });
  }

  /**
   * Records that the registration interrupt was shown in sign-in flow `flowId` (null: outside a
   * flow). True unless it was already recorded for that flow: the last flow is kept per account and
   * one conditional UPDATE decides, so of concurrent page loads in one flow only one gets true.
   */
  async registrationStarted(userId: string, flowId: string | null, now: number): Promise<boolean> {
    await this.db('sspr_state').insert({ user_id: userId, confirmed_at: null, skips: 0, updated_at: now }).onConflict('user_id').ignore();
    const q = this.db('sspr_state').where({ user_id: userId });
    if (flowId !== null) q.andWhere((w) => w.whereNull('registration_flow').orWhereNot('registration_flow', flowId));
    return (await q.update({ registration_started_at: now, registration_flow: flowId, updated_at: now })) > 0;
  }

  /**
   * Counts one "not now" unless `maxSkips` (null: unlimited) are used up; returns the new count, or
   * undefined when refused. One conditional UPDATE, so parallel skips can never exceed the limit.
   */
  async addSkip(userId: string, now: number, maxSkips: number | null): Promise<number | undefined> {
    await this.db('sspr_state').insert({ user_id: userId, confirmed_at: null, skips: 0, updated_at: now }).onConflict('user_id').ignore();
    const q = this.db('sspr_state').where({ user_id: userId });
    if (maxSkips !== null) q.andWhere('skips', '<', maxSkips);
    const rows = await q.update({ skips: this.db.raw('skips + 1'), updated_at: now }).returning<{ skips: string | number }[]>('skips');
    const first = rows[0];
    return first === undefined ? undefined : n(first.skips);
  }

  // One-time challenges

  async createChallenge(c: Omit<Challenge, 'attempts' | 'consumedAt'>): Promise<void> {
    await this.db('sspr_challenges').insert({
      id: c.id,
      user_id: c.userId,
      purpose: c.purpose,
      target_key: c.targetKey,
      pending_value: c.pendingValue,
      code_hash: c.codeHash,
      attempts: 0,
      sends: c.sends,
      last_sent_at: c.lastSentAt,
      expires_at: c.expiresAt,
      consumed_at: null,
      created_at: c.createdAt,
    });
  }

  async challenge(id: string): Promise<Challenge | undefined> {
    const row = await this.db<Row>('sspr_challenges').where({ id }).first();
    return row ? toChallenge(row) : undefined;
  }

  /** The newest unconsumed, unexpired challenge of a user for a purpose. */
  async latestChallenge(userId: string, purpose: string, now: number): Promise<Challenge | undefined> {
    const row = await this.db<Row>('sspr_challenges')
      .where({ user_id: userId, purpose })
      .whereNull('consumed_at')
      .andWhere('expires_at', '>', now)
      .orderBy('created_at', 'desc')
      .first();
    return row ? toChallenge(row) : undefined;
  }

  /** Challenges of a user and purpose created since `since` (for send limits). */
  async sendsSince(userId: string, purpose: string, targetKey: string, since: number): Promise<number> {
    const row = await this.db('sspr_challenges')
      .where({ user_id: userId, purpose, target_key: targetKey })
      .andWhere('created_at', '>', since)
      .sum<{ total: string | number | null }[]>({ total: 'sends' });
    return Number(row[0]?.total ?? 0);
  }

  /** Counts a wrong try atomically; returns the attempts now recorded. */
  async addAttempt(id: string): Promise<number> {
    await this.db('sspr_challenges').where({ id }).increment('attempts', 1);
    const row = await this.db<Row>('sspr_challenges').where({ id }).first('attempts');
    return row ? n(row.attempts) : Number.POSITIVE_INFINITY;
  }

  /** Marks a challenge used; true only for the single caller that did it. */
  async consumeChallenge(id: string, now: number, maxAttempts: number): Promise<boolean> {
    const changed = await this.db('sspr_challenges')
      .where({ id })
      .whereNull('consumed_at')
      .andWhere('attempts', '<', maxAttempts)
      .andWhere('expires_at', '>', now)
      .update({ consumed_at: now });
    return changed > 0;
  }

  /** Voids every open challenge of a user for a purpose (a new code replaces the old ones). */
  async voidChallenges(userId: string, purpose: string, now: number): Promise<void> {
    await this.db('sspr_challenges').where({ user_id: userId, purpose }).whereNull('consumed_at').update({ consumed_at: now });
  }

  /**
   * The newest challenge of a user for a purpose in any state (open, used, expired), so a caller can
   * tell why a code no longer works. Among challenges created in the same millisecond the open one wins.
   */
  async newestChallenge(userId: string, purpose: string): Promise<Challenge | undefined> {
    const row = await this.db<Row>('sspr_challenges')
      .where({ user_id: userId, purpose })
      .orderBy('created_at', 'desc')
      .orderByRaw('case when consumed_at is null then 0 else 1 end')
      .first();
    return row ? toChallenge(row) : undefined;
  }

  /** When a code last went to this address for this user and purpose (null: never). */
  async lastSentAt(userId: string, purpose: string, targetKey: string): Promise<number | null> {
    const row = await this.db('sspr_challenges')
      .where({ user_id: userId, purpose, target_key: targetKey })
      .max<{ last: string | number | null }[]>({ last: 'last_sent_at' });
    return nn(row[0]?.last);
  }

  /** Voids the user's open challenges for the purpose and creates the new one, in one transaction. */
  async replaceChallenge(c: Omit<Challenge, 'attempts' | 'consumedAt'>): Promise<void> {
    await this.db.transaction(async (trx) => {
      await trx('sspr_challenges').where({ user_id: c.userId, purpose: c.purpose }).whereNull('consumed_at').update({ consumed_at: c.createdAt });
      await new SsprStore(trx).createChallenge(c);
    });
  }

  /**
   * Reserves one try at an open challenge before its code is compared: counts the attempt only while
   * the challenge is open, unexpired and under `maxAttempts`. Returns the attempts now recorded, or
   * undefined when no try is left. Concurrent guesses can therefore never exceed `maxAttempts`.
   */
  async claimAttempt(id: string, now: number, maxAttempts: number): Promise<number | undefined> {
    const rows = await this.db('sspr_challenges')
      .where({ id })
      .whereNull('consumed_at')
      .andWhere('attempts', '<', maxAttempts)
      .andWhere('expires_at', '>', now)
      .update({ attempts: this.db.raw('attempts + 1') })
      .returning<{ attempts: string | number }[]>('attempts');
    const first = rows[0];
    return first === undefined ? undefined : n(first.attempts);
  }

  /**
   * Marks an open, unexpired challenge used, whatever its attempt count (a try already claimed with
   * claimAttempt succeeded); with `onlyWithoutCode` only a challenge that has no code (a held value).
   * True only for the single caller that did it.
   */
  async useChallenge(id: string, now: number, onlyWithoutCode = false): Promise<boolean> {
    const q = this.db('sspr_challenges').where({ id }).whereNull('consumed_at').andWhere('expires_at', '>', now);
    if (onlyWithoutCode) q.whereNull('code_hash');
    return (await q.update({ consumed_at: now })) > 0;
  }

  async purgeChallenges(now: number): Promise<number> {
    return this.db('sspr_challenges').where('expires_at', '<=', now).delete();
  }
}
