/** How the reset flow appears in the audit trail, and how its events are recorded. */
import { createHash } from 'node:crypto';
import type { AuditStore } from '../../store/audit.ts';
import type { Clock } from '../../clock.ts';

/** The flow id as stored (reset_flows.id_hash): SHA-256 of the cookie value. */
export const hash = (id: string) => createHash('sha256').update(id).digest('hex');
/** How a flow appears in the audit trail: not its id (the cookie value), a prefix of its hash. */
export const ref = (id: string) => hash(id).slice(0, 16);

export interface Where {
  ip?: string;
  flowId?: string;
}

export type ResetAudit = (type: string, userId: string | undefined, where: Where, outcome: 'success' | 'failure' | 'info', details: Record<string, string | number>) => Promise<void>;

export function resetAudit(audit: AuditStore, clock: Clock): ResetAudit {
  return async (type, userId, where, outcome, details) => {
    await audit.record({ type, outcome, userId: userId ?? null, ip: where.ip, flowId: where.flowId, details }, clock.now());
  };
}
