/**
 * The steps shared by methods that prove an address with a sent code (email, mobile phone):
 * issue a code and deliver it, then check what the user typed. Maps outcomes to message ids.
 */
import { DeliveryError } from '../delivery/index.ts';
import type { MethodDeps } from './types.ts';

export type SendOutcome = { ok: true } | { ok: false; error: string; vars?: Record<string, string | number> };
export type CheckOutcome = { ok: true; value: string } | { ok: false; error: string; vars?: Record<string, string | number>; restart: boolean };

/** Which per-account limit of sspr.limits a send counts against. */
export type AccountLimit = 'email' | 'phone';

/** The throttle key and limit of the per-account registration limits (kept apart from the reset flow's). */
function accountLimit(deps: MethodDeps, userId: string, kind: AccountLimit) {
  const limits = deps.config().sspr.limits;
  const limit = kind === 'email' ? { points: limits.emailsPer10Minutes, windowSeconds: 600 } : { points: limits.phonePerHour, windowSeconds: 3600 };
  return { key: `sspr:register:${kind}:${userId}`, limit };
}

/**
 * Issues a code for user+purpose+target and hands it to `deliver`; a failed delivery voids the code.
 * With `perAccount`, every request also counts against the account's limit (sspr.limits), whatever
 * the address: the per-address limits alone would let one account mail or text any number of
 * addresses. Requests over the limit are refused before a code is made.
 */
export async function sendCode(
  deps: MethodDeps,
  userId: string,
  purpose: string,
  target: string,
  deliver: (code: string, minutes: number) => Promise<void>,
  perAccount?: AccountLimit,
): Promise<SendOutcome> {
  if (perAccount) {
    const { key, limit } = accountLimit(deps, userId, perAccount);
    const hit = await deps.throttle.hit(key, limit);
    if (!hit.allowed) return { ok: false, error: 'code.account_limit', vars: { minutes: Math.ceil(hit.retryAfterSeconds / 60) } };
  }
  const issued = await deps.codes.issue(userId, purpose, target, target);
  if (!issued.ok) {
    return issued.reason === 'resend_too_soon'
      ? { ok: false, error: 'code.resend_too_soon', vars: { seconds: issued.retryAfterSeconds } }
      : { ok: false, error: 'code.too_many_sends' };
  }
  try {
    await deliver(issued.code, deps.config().sspr.codes.ttlMinutes);
  } catch (error) {
    await deps.store.sspr.voidChallenges(userId, purpose, deps.clock.now());
    if (error instanceof DeliveryError) return { ok: false, error: 'error.delivery_failed' };
    throw error;
  }
  return { ok: true };
}

export async function checkCode(deps: MethodDeps, userId: string, purpose: string, target: string, code: string): Promise<CheckOutcome> {
  const result = await deps.codes.verify(userId, purpose, target, code);
  if (result.ok) return { ok: true, value: result.pendingValue ?? target };
  switch (result.reason) {
    case 'wrong_code':
      return result.attemptsLeft > 0
        ? { ok: false, error: 'code.wrong', vars: { left: result.attemptsLeft }, restart: false }
        : { ok: false, error: 'code.too_many_attempts', restart: true };
    case 'too_many_attempts':
      return { ok: false, error: 'code.too_many_attempts', restart: true };
    default:
      return { ok: false, error: 'code.expired', restart: true };
  }
}

/** Digits only, for display in a voice script: "1 2 3 4". */
export function spaced(code: string): string {
  return code.split('').join(' ');
}
