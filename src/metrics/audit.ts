/**
 * The business counters, read off the audit trail: every flow already records what happened
 * (src/store/audit.ts), so one listener counts sign-ins, interrupts and resets without a line in
 * the flows. Only the event type and reason-like details (values the code writes, from closed
 * lists here) become labels; the user, address, client and flow of an event never do.
 */
import type { AuditEvent } from '../store/audit.ts';
import { oneOf, type Metrics } from './registry.ts';

const SIGNIN_RESULTS = ['wrong_password', 'unknown_user', 'disabled', 'no_password', 'locked', 'ip_throttled', 'directory_unreachable', 'directory_refused'] as const;
const RESET_REASONS = [
  'blocked',
  'not_registered',
  'not_enabled',
  'onprem_managed',
  'writeback_unavailable',
  'too_many_attempts',
  'writeback',
  'writeback_refused',
  'incomplete',
] as const;
const BLOCK_LIMITS = ['resets', 'email', 'phone', 'questions'] as const;
const INTERRUPTS: Record<string, string> = {
  'sspr.registration.started': 'shown',
  'sspr.registration.skipped': 'skipped',
  'sspr.registration.completed': 'finished',
  'sspr.registration.confirmed': 'reconfirmed',
};

/** Counts one recorded audit event. */
export function countAuditEvent(metrics: Metrics, event: AuditEvent): void {
  const reason = event.details?.reason;
  switch (event.type) {
    case 'signin.success':
      metrics.logins.inc({ result: 'success' });
      return;
    case 'signin.failure':
      metrics.logins.inc({ result: oneOf(reason, SIGNIN_RESULTS) });
      if (reason === 'directory_unreachable' || reason === 'directory_refused') metrics.directoryErrors.inc({ operation: 'signin' });
      return;
    case 'signin.locked':
      metrics.lockouts.inc();
      return;
    case 'mfa.success':
    case 'mfa.failure':
      metrics.mfa.inc({ result: event.outcome === 'success' ? 'success' : 'failure' });
      return;
    case 'sspr.reset.started':
      if (event.outcome === 'success') metrics.resetsStarted.inc();
      else metrics.resetsRefused.inc({ reason: oneOf(reason, RESET_REASONS) });
      return;
    case 'sspr.reset.failed':
      metrics.resetsRefused.inc({ reason: oneOf(reason, RESET_REASONS) });
      if (reason === 'writeback') metrics.directoryErrors.inc({ operation: 'writeback' });
      return;
    case 'sspr.reset.completed':
      metrics.resetsCompleted.inc();
      return;
    case 'sspr.blocked':
      metrics.ssprBlocks.inc({ limit: oneOf(event.details?.limit, BLOCK_LIMITS) });
      return;
    case 'directory.sync':
      if (event.outcome === 'failure') metrics.directoryErrors.inc({ operation: 'sync' });
      return;
    default: {
      const outcome = INTERRUPTS[event.type];
      if (outcome) metrics.interrupts.inc({ outcome });
    }
  }
}
