/**
 * Password sign-in as every page does it (the interactive login and /security-info): the per-IP
 * throttle, the per-account lockout (in UserService) and the audit trail, identical wherever a
 * password is checked. No HTTP here.
 */
import type { Logger } from 'pino';
import type { UserService } from '../users/service.ts';
import type { User } from '../store/users.ts';
import type { AuditStore } from '../store/audit.ts';
import type { Clock } from '../clock.ts';
import type { Throttle, Limit } from '../security/throttle.ts';
import { DirectoryError } from '../directory/errors.ts';
import { Service } from '../service.ts';

/** Where a password was typed: the login page of an app (with its client id) or /security-info. */
export interface SignInContext {
  ip: string;
  clientId?: string;
  /** Recorded with every event: 'login' for the interactive login, 'security-info', ... */
  via: string;
}

export type PasswordSignInOutcome = { ok: true; user: User } | { ok: false };

/**
 * How recent a password check must be to change recovery methods, on the security-info page and
 * inside the sign-in prompts alike.
 */
export const FRESH_MINUTES = 10;

/** True when a password was checked at `authenticatedAt` (epoch ms) within the last FRESH_MINUTES. */
export function isFresh(authenticatedAt: number | undefined, now: number): boolean {
  return authenticatedAt !== undefined && authenticatedAt + FRESH_MINUTES * 60_000 > now;
}

/** Longer input is refused before anything is checked (argon2 takes any length). */
const MAX_INPUT = 1024;

export class PasswordSignIn extends Service<{ users: UserService; log: Logger; audit: AuditStore; clock: Clock; throttle: Throttle; limit: () => Limit }> {
  /** Every failure looks the same to the user; the log and the audit keep the reason (never the password). */
  async check(username: string, password: string, context: SignInContext): Promise<PasswordSignInOutcome> {
    const where = { ip: context.ip, clientId: context.clientId ?? null };
    const details = { via: context.via };
    if (username.length > MAX_INPUT || password.length > MAX_INPUT) {
      this.deps.log.info({ event: 'signin.failure', reason: 'oversized', ...context }, 'sign-in failed');
      return { ok: false };
    }
    // Password spraying: failed sign-ins from one address across accounts are counted; past the
    // limit the address gets the usual failure without a password check. The point is taken before
    // the check, so concurrent posts can't all pass; only failures keep it.
    const ipPoint = await this.deps.throttle.take(`signin:ip:${context.ip}`, this.deps.limit());
    if (!ipPoint.allowed) {
      // Not a checked password: it doesn't count (the address is over the limit anyway).
      await ipPoint.giveBack();
      this.deps.log.warn({ event: 'signin.throttled', ...context }, 'sign-in refused: too many failures from this address');
      await this.deps.audit.record({ type: 'signin.failure', outcome: 'failure', ...where, details: { ...details, reason: 'ip_throttled' } }, this.deps.clock.now());
      return { ok: false };
    }
    let result;
    try {
      result = await this.deps.users.signIn(username, password);
    } catch (error) {
      // The directory couldn't answer: no failure to count, the audit says why, the page says what (DirectoryError).
      await ipPoint.giveBack();
      if (error instanceof DirectoryError) {
        this.deps.log.warn({ event: 'signin.directory_error', errorCode: error.code, reason: error.reason, ...context }, 'sign-in not checked: directory error');
        await this.deps.audit.record({ type: 'signin.failure', outcome: 'failure', ...where, details: { ...details, reason: error.failure === 'unreachable' ? 'directory_unreachable' : 'directory_refused', directoryError: error.code } }, this.deps.clock.now());
      }
      throw error;
    }
    const at = this.deps.clock.now();
    if (!result.ok) {
      this.deps.log.info({ event: 'signin.failure', reason: result.reason, userId: result.userId, ...context }, 'sign-in failed');
      await this.deps.audit.record({ type: 'signin.failure', outcome: 'failure', userId: result.userId, ...where, details: { ...details, reason: result.reason } }, at);
      if (result.lockedNow) await this.deps.audit.record({ type: 'signin.locked', outcome: 'info', userId: result.userId, ...where, details }, at);
      return { ok: false };
    }
    await ipPoint.giveBack();
    this.deps.log.info({ event: 'signin.success', userId: result.user.id, ...context }, 'signed in');
    await this.deps.audit.record({ type: 'signin.success', outcome: 'success', userId: result.user.id, ...where, details }, at);
    return { ok: true, user: result.user };
  }
}
