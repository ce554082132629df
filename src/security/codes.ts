/**
 * One-time codes sent by email, text message or call (OWASP ASVS V2.7/V2.8): cryptographically
 * random, kept only as an HMAC with a server-side pepper, single use, short-lived, limited in tries
 * and sends, and bound to the user, the purpose and the address they went to.
 */
import { createHash, createHmac, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import type { SsprStore } from '../store/sspr.ts';
import type { Clock } from '../clock.ts';

/** The same shape as config.sspr.codes. */
export interface CodePolicy {
  length: number;
  ttlMinutes: number;
  maxAttempts: number;
  maxSends: number;
  resendAfterSeconds: number;
}

export type IssueResult =
  | { ok: true; challengeId: string; code: string; expiresAt: number }
  | { ok: false; reason: 'resend_too_soon'; retryAfterSeconds: number }
  | { ok: false; reason: 'too_many_sends' };

export type VerifyResult =
  | { ok: true; pendingValue: string | null }
  | { ok: false; reason: 'wrong_code'; attemptsLeft: number }
  | { ok: false; reason: 'expired' | 'too_many_attempts' | 'used' | 'not_found' | 'wrong_target' };

/** How long a held value (authenticator app setup) stays available when no ttl is given. */
export const DEFAULT_HOLD_MINUTES = 15;

/** Longest input that is worth hashing; anything longer is a wrong code all the same. */
const MAX_INPUT = 64;

/** Lower-cased, trimmed address: the form a code is bound to. */
export function normaliseTarget(target: string): string {
  return target.trim().toLowerCase();
}

/** SHA-256 hex of the normalised address, stored as the challenge's target_key. */
export function targetKey(target: string): string {
  return createHash('sha256').update(normaliseTarget(target), 'utf8').digest('hex');
}

/** A uniformly random numeric code of `length` digits; leading zeros are possible. */
export function randomCode(length: number): string {
  let code = '';
  for (let i = 0; i < length; i++) code += String(randomInt(10));
  return code;
}

/** What the user typed, with the spaces and dashes people add to codes taken out. */
export function normaliseCodeInput(input: string): string {
  return input.replace(/[\s-]+/g, '');
}

export class OneTimeCodes {
  readonly #store: SsprStore;
  readonly #clock: Clock;
  readonly #key: () => Buffer;
  readonly #policy: () => CodePolicy;

  /** `key` is the HMAC pepper (see deriveKey in secrets.ts); `policy` is read on every call (config reload). */
  constructor(store: SsprStore, clock: Clock, key: () => Buffer, policy: () => CodePolicy) {
    this.#store = store;
    this.#clock = clock;
    this.#key = key;
    this.#policy = policy;
  }

  #hash(challengeId: string, code: string): Buffer {
    return createHmac('sha256', this.#key()).update(`${challengeId}:${code}`, 'utf8').digest();
  }

  /**
   * Creates a challenge and its code for userId+purpose+target; the new code voids the previous open
   * ones of that purpose. Refuses when the last code to this address went out less than
   * resendAfterSeconds ago, or when maxSends codes went to it within the last ttlMinutes.
   */
  async issue(userId: string, purpose: string, target: string, pendingValue: string | null = null): Promise<IssueResult> {
    const policy = this.#policy();
    const now = this.#clock.now();
    const key = targetKey(target);
    const windowMs = policy.ttlMinutes * 60_000;

    if ((await this.#store.sendsSince(userId, purpose, key, now - windowMs)) >= policy.maxSends) {
      return { ok: false, reason: 'too_many_sends' };
    }
    const last = await this.#store.lastSentAt(userId, purpose, key);
    if (last !== null) {
      const waitMs = last + policy.resendAfterSeconds * 1000 - now;
      if (waitMs > 0) return { ok: false, reason: 'resend_too_soon', retryAfterSeconds: Math.ceil(waitMs / 1000) };
    }

    const challengeId = randomBytes(18).toString('base64url');
    const code = randomCode(policy.length);
    const expiresAt = now + windowMs;
    await this.#store.replaceChallenge({
      id: challengeId,
      userId,
      purpose,
      targetKey: key,
      pendingValue,
      codeHash: this.#hash(challengeId, code).toString('hex'),
      sends: 1,
      lastSentAt: now,
      expiresAt,
      createdAt: now,
    });
    return { ok: true, challengeId, code, expiresAt };
  }

  /**
   * Checks a code typed by the user against the newest challenge of userId+purpose. `target` must be
   * the address the code went to. Every try at an open challenge is counted before the comparison
   * (so parallel guesses can't exceed maxAttempts); success consumes the challenge, and of concurrent
   * verifications of one code exactly one succeeds. Malformed input is a wrong code, never an error.
   */
  async verify(userId: string, purpose: string, target: string, code: string): Promise<VerifyResult> {
    const policy = this.#policy();
    const now = this.#clock.now();
    const challenge = await this.#store.newestChallenge(userId, purpose);
    if (!challenge || challenge.codeHash === null) return { ok: false, reason: 'not_found' };
    if (challenge.consumedAt !== null) return { ok: false, reason: 'used' };
    if (challenge.attempts >= policy.maxAttempts) return { ok: false, reason: 'too_many_attempts' };
    if (challenge.expiresAt <= now) return { ok: false, reason: 'expired' };
    if (!timingSafeEqual(Buffer.from(challenge.targetKey, 'utf8'), Buffer.from(targetKey(target), 'utf8'))) {
      return { ok: false, reason: 'wrong_target' };
    }

    const attempts = await this.#store.claimAttempt(challenge.id, now, policy.maxAttempts);
    if (attempts === undefined) return this.#whyClosed(challenge.id, policy, now);

    const input = typeof code === 'string' ? normaliseCodeInput(code).slice(0, MAX_INPUT) : '';
    const wellFormed = /^[0-9]+$/.test(input);
    const given = this.#hash(challenge.id, input);
    const stored = Buffer.from(challenge.codeHash, 'hex');
    const matches = stored.length === given.length && timingSafeEqual(stored, given) && wellFormed;

    if (!matches) return { ok: false, reason: 'wrong_code', attemptsLeft: Math.max(0, policy.maxAttempts - attempts) };
    if (await this.#store.useChallenge(challenge.id, now)) return { ok: true, pendingValue: challenge.pendingValue };
    return this.#whyClosed(challenge.id, policy, now);
  }

  /** The reason a challenge that was open a moment ago no longer accepts a try. */
  async #whyClosed(id: string, policy: CodePolicy, now: number): Promise<VerifyResult> {
    const c = await this.#store.challenge(id);
    if (!c) return { ok: false, reason: 'not_found' };
    if (c.consumedAt !== null) return { ok: false, reason: 'used' };
    if (c.attempts >= policy.maxAttempts) return { ok: false, reason: 'too_many_attempts' };
    if (c.expiresAt <= now) return { ok: false, reason: 'expired' };
    return { ok: false, reason: 'used' };
  }

  /**
   * For challenges without a sent code (authenticator app setup): keeps `pendingValue` (e.g. an
   * encrypted secret) for userId+purpose, replacing any open one. Returns the challenge id.
   */
  async hold(userId: string, purpose: string, pendingValue: string, ttlMinutes: number = DEFAULT_HOLD_MINUTES): Promise<string> {
    const now = this.#clock.now();
    const challengeId = randomBytes(18).toString('base64url');
    await this.#store.replaceChallenge({
      id: challengeId,
      userId,
      purpose,
      targetKey: targetKey(''),
      pendingValue,
      codeHash: null,
      sends: 0,
      lastSentAt: null,
      expiresAt: now + ttlMinutes * 60_000,
      createdAt: now,
    });
    return challengeId;
  }

  /** The open held value of userId+purpose, if any. */
  async pending(userId: string, purpose: string): Promise<{ challengeId: string; pendingValue: string } | undefined> {
    const c = await this.#store.latestChallenge(userId, purpose, this.#clock.now());
    if (!c || c.codeHash !== null || c.pendingValue === null) return undefined;
    return { challengeId: c.id, pendingValue: c.pendingValue };
  }

  /** Takes a held value once: true for the single caller that consumed it. Challenges with a code are refused (use verify). */
  async consume(challengeId: string): Promise<boolean> {
    return this.#store.useChallenge(challengeId, this.#clock.now(), true);
  }
}
