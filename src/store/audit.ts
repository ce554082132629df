/** The append-only audit trail. */
import { fixedStatement } from './raw.ts';
import { Repository, type Row } from './repository.ts';

export interface AuditEvent {
  type: string;
  outcome: 'success' | 'failure' | 'info';
  userId?: string | null;
  clientId?: string | null;
  ip?: string | null;
  flowId?: string | null;
  /** Non-secret details (method names, reasons); never codes, answers or passwords. */
  details?: Record<string, string | number | boolean | null>;
}

export interface StoredAuditEvent extends AuditEvent {
  id: number;
  at: number;
}

// Fixed SQL text (raw.ts: fixedStatement): every sign-in records an event.
const INSERT = 'insert into audit_events (at, type, user_id, client_id, ip, flow_id, outcome, details) values (?, ?, ?, ?, ?, ?, ?, ?)';

/** Told of every event once it is stored (metrics count them); must not throw. */
export type AuditListener = (event: AuditEvent) => void;

export class AuditStore extends Repository {
  readonly #listeners: AuditListener[] = [];

  /** Calls `listener` after each event recorded through this store. */
  onRecord(listener: AuditListener): void {
    this.#listeners.push(listener);
  }

  async record(event: AuditEvent, at: number): Promise<void> {
    await fixedStatement(this.db, INSERT, [
      at,
      event.type,
      event.userId ?? null,
      event.clientId ?? null,
      event.ip ?? null,
      event.flowId ?? null,
      event.outcome,
      event.details ? JSON.stringify(event.details) : null,
    ]);
    for (const listener of this.#listeners) listener(event);
  }

  /** Deletes the events recorded before `before` (epoch ms); returns how many were deleted. */
  async purgeOlderThan(before: number): Promise<number> {
    return this.db('audit_events').where('at', '<', before).delete();
  }

  async list(filter: { userId?: string; type?: string; since?: number; limit?: number } = {}): Promise<StoredAuditEvent[]> {
    const q = this.db<Row>('audit_events').orderBy('id', 'asc').limit(filter.limit ?? 1000);
    if (filter.userId) q.where({ user_id: filter.userId });
    if (filter.type) q.where('type', 'like', `${filter.type}%`);
    if (filter.since !== undefined) q.where('at', '>=', filter.since);
    const rows = await q;
    return rows.map((r) => ({
      id: Number(r.id),
      at: Number(r.at),
      type: String(r.type),
      outcome: r.outcome as AuditEvent['outcome'],
      userId: (r.user_id as string | null) ?? null,
      clientId: (r.client_id as string | null) ?? null,
      ip: (r.ip as string | null) ?? null,
      flowId: (r.flow_id as string | null) ?? null,
      details: r.details ? (JSON.parse(String(r.details)) as AuditEvent['details']) : undefined,
    }));
  }
}
