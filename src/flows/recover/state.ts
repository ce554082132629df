/**
 * The "Can't access your account?" flow as a persisted state machine.
 *
 *   identify ── CAPTCHA + user id ──► checks, in this order:
 *      │  SSPR doesn't apply to the user ─────────────────► refused (SSPR_NOT_ENABLED)
 *      │  unknown user, or fewer methods than required ────► refused (SSPR_NOT_REGISTERED)
 *      │  password managed on-premises, writeback off ─────► refused (SSPR_ONPREM_MANAGED)
 *      │  on-premises, writeback on but none plugged in ───► refused (SSPR_WRITEBACK_UNAVAILABLE)
 *      │  an SSPR limit exceeded ──────────────────────────► refused (SSPR_BLOCKED, for sspr.limits.blockHours)
 *      ▼
 *   verify ── a registered method proven ──► verify (until `required` different methods are proven)
 *      │  fewer usable methods left than proofs needed ────► refused (SSPR_TOO_MANY_ATTEMPTS)
 *      │ all proven
 *      ├── account locked and unlock allowed ──► choose ── "unlock only" ──► done (unlocked)
 *      │                                            └──── "reset" ───────┐
 *      └──────────────────────────────────────────────────────────────────┴─► password ── valid new password ──► done (reset)
 *
 *   password ── on-premises account ──► finishing ── directory took it, local change made ──► done (reset)
 *                                          └── directory refused, or the local change failed ──► password
 *
 *   verify, choose, password ── the account blocked meanwhile (checked at every step and before
 *                               the finish) ──► refused (SSPR_BLOCKED)
 *
 * "finishing" claims the flow before the directory is written to, so of two concurrent submissions
 * only one ever reaches the directory; a refused writeback moves back so the user can try again.
 *
 * The browser holds only a random flow id (cookie); the state lives in reset_flows. Every move is
 * checked against `transitions` below and is a conditional update on the version read, so steps
 * can't be skipped or replayed, and of two concurrent finishes exactly one succeeds. A flow expires
 * after sspr.resetFlowMinutes.
 */
import type { MethodId } from '../../methods/ids.ts';

export type FlowState = 'refused' | 'verify' | 'choose' | 'password' | 'finishing' | 'done';

export type RefusalReason = 'not_enabled' | 'not_registered' | 'onprem_managed' | 'writeback_unavailable' | 'too_many_attempts' | 'blocked';

/** Stable ids users can quote to the helpdesk. */
export const refusalCodes: Record<RefusalReason, string> = {
  not_enabled: 'SSPR_NOT_ENABLED',
  not_registered: 'SSPR_NOT_REGISTERED',
  onprem_managed: 'SSPR_ONPREM_MANAGED',
  writeback_unavailable: 'SSPR_WRITEBACK_UNAVAILABLE',
  too_many_attempts: 'SSPR_TOO_MANY_ATTEMPTS',
  blocked: 'SSPR_BLOCKED',
};

export interface FlowData {
  /** The user id as typed (for the helpdesk mail), trimmed and cut to 256 characters. */
  typed: string;
  reason?: RefusalReason;
  required: number;
  proven: MethodId[];
  /** The method being proven now and what its challenge saved. */
  current?: { method: MethodId; saved: Record<string, unknown>; page: { view: string; locals: Record<string, unknown> } };
  failures: Partial<Record<MethodId, number>>;
  /** An interaction page to return to afterwards (sign-in that was interrupted). */
  returnTo?: string;
  outcome?: 'reset' | 'unlocked';
  contacted?: boolean;
}

/** Which moves are possible from each state. */
export const transitions: Record<FlowState, readonly FlowState[]> = {
  verify: ['verify', 'choose', 'password', 'refused'],
  choose: ['password', 'done', 'refused'],
  password: ['finishing', 'done', 'refused'],
  finishing: ['done', 'password'],
  refused: ['refused'],
  done: [],
};

export function canMove(from: FlowState, to: FlowState): boolean {
  return transitions[from].includes(to);
}
