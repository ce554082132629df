/**
 * Read-only queries behind the administrator reports (`oidc-sspr audit`, `oidc-sspr report …`).
 * Nothing secret is selected: no method values, answer hashes or password hashes.
 */
import type { AuditEvent } from './audit.ts';
import type { StoredMethodKind } from './sspr.ts';
import type { UserStatus } from './users.ts';
import { Repository, type Row } from './repository.ts';

/** An audit event with the username of its user (null when there is none, or it was deleted). */
export interface AuditLine {
  id: number;
  at: number;
  type: string;
  outcome: string;
  userId: string | null;
  username: string | null;
  clientId: string | null;
  ip: string | null;
  flowId: string | null;
  details: AuditEvent['details'] | null;
}

export interface AuditQuery {
  userId?: string;
  /** Events whose type starts with this text (case-sensitive). */
  typePrefix?: string;
  /** Events at or after this moment (epoch ms). */
  since?: number;
  /** The newest `limit` events are returned, oldest first. */
  limit: number;
}

/** One user's registration facts, as the registration report needs them. */
export interface RegistrationFacts {
  id: string;
  username: string;
  status: UserStatus;
  groups: string[];
  methods: { kind: StoredMethodKind; verifiedAt: number | null; createdAt: number }[];
  answers: { questionId: string; createdAt: number }[];
  confirmedAt: number | null;
  skips: number;
}

/** Counts of reset-related audit events in a window, by type, outcome and the detail that matters. */
export interface ResetCount {
  type: string;
  outcome: string;
  /** details.reason, when the event has one. */
  reason: string | null;
  /** details.method, when the event has one. */
  method: string | null;
  count: number;
}

export const RESET_EVENT_TYPES = [
  'sspr.reset.started',
  'sspr.reset.step',
  'sspr.reset.completed',
  'sspr.reset.failed',
  'sspr.unlocked',
  'sspr.blocked',
  'sspr.contact_admin',
] as const;

const str = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));
const nn = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

function parseDetails(value: unknown): AuditEvent['details'] | null {
  if (value === null || value === undefined) return null;
  try {
    const parsed: unknown = JSON.parse(String(value));
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as AuditEvent['details']) : null;
  } catch {
    return null;
  }
}

export class ReportStore extends Repository {
  /** The newest matching audit events (at most `limit`), returned oldest first. */
  async auditEvents(query: AuditQuery): Promise<AuditLine[]> {
    const q = this.db<Row>('audit_events as e')
      .leftJoin('users as u', 'u.id', 'e.user_id')
      .select('e.id', 'e.at', 'e.type', 'e.outcome', 'e.user_id', 'u.username', 'e.client_id', 'e.ip', 'e.flow_id', 'e.details')
      .orderBy([
        { column: 'e.at', order: 'desc' },
        { column: 'e.id', order: 'desc' },
      ])
      .limit(query.limit);
    if (query.userId !== undefined) q.where('e.user_id', query.userId);
    // substr rather than LIKE: no wildcards to escape, and case-sensitive on SQLite as on PostgreSQL.
    if (query.typePrefix) q.whereRaw('substr(e.type, 1, ?) = ?', [query.typePrefix.length, query.typePrefix]);
    if (query.since !== undefined) q.where('e.at', '>=', query.since);
    const rows = await q;
    return rows.reverse().map((r) => ({
      id: Number(r.id),
      at: Number(r.at),
      type: String(r.type),
      outcome: String(r.outcome),
      userId: str(r.user_id),
      username: str(r.username),
      clientId: str(r.client_id),
      ip: str(r.ip),
      flowId: str(r.flow_id),
      details: parseDetails(r.details),
    }));
  }

  /** Whether any audit event names this user id (also after the user was deleted). */
  async hasAuditEventsFor(userId: string): Promise<boolean> {
    return (await this.db('audit_events').where({ user_id: userId }).first('id')) !== undefined;
  }

  /**
   * Runs `fn` on one consistent view of the database, so that a report read in two passes sees the
   * same users in both: a read-only REPEATABLE READ transaction on PostgreSQL; on SQLite one read
   * transaction, whose snapshot (WAL mode) doesn't hold up writers.
   */
  async snapshot<T>(fn: (reports: ReportStore) => Promise<T>): Promise<T> {
    const pg = this.db.client.config.client === 'pg';
    return this.db.transaction((trx) => fn(new ReportStore(trx)), pg ? { isolationLevel: 'repeatable read', readOnly: true } : {});
  }

  /**
   * Every user with groups, methods (kind and dates only), answered question ids and confirmation,
   * by username, a page of users at a time: a report over a million accounts in bounded memory.
   */
  async *registrationFactsPages(pageSize = 2000): AsyncGenerator<RegistrationFacts[]> {
    let after: string | undefined;
    for (;;) {
      const page = await this.#factsPage(after, pageSize);
      if (page.facts.length === 0) return;
      yield page.facts;
      if (page.facts.length < pageSize) return;
      after = page.last;
    }
  }

  /**
   * One page: keyset on username_key, the page's groups, methods, answers and state read for its
   * ids, one statement after the other (within a snapshot they share one connection).
   */
  async #factsPage(after: string | undefined, pageSize: number): Promise<{ facts: RegistrationFacts[]; last: string }> {
    const query = this.db<Row>('users').select('id', 'username', 'username_key', 'status').orderBy('username_key').limit(pageSize);
    if (after !== undefined) query.where('username_key', '>', after);
    const users = await query;
    if (users.length === 0) return { facts: [], last: after ?? '' };
    const ids = users.map((u) => String(u.id));
    // By ids, not by joining users on the page's range: PostgreSQL misjudges how many users a
    // range of usernames holds and then reads sspr_methods whole.
    const groups = await this.db<Row>('user_groups')
      .join('groups', 'groups.id', 'user_groups.group_id')
      .whereIn('user_groups.user_id', ids)
      .select('user_groups.user_id', 'groups.name')
      .orderBy('groups.name_key');
    const methods = await this.db<Row>('sspr_methods').whereIn('user_id', ids).select('user_id', 'kind', 'verified_at', 'created_at').orderBy('kind');
    const answers = await this.db<Row>('sspr_security_answers').whereIn('user_id', ids).select('user_id', 'question_id', 'created_at').orderBy('question_id');
    const states = await this.db<Row>('sspr_state').whereIn('user_id', ids).select('user_id', 'confirmed_at', 'skips');
    const byId = new Map<string, RegistrationFacts>();
    for (const u of users) {
      byId.set(String(u.id), {
        id: String(u.id),
        username: String(u.username),
        status: u.status === 'disabled' ? 'disabled' : 'enabled',
        groups: [],
        methods: [],
        answers: [],
        confirmedAt: null,
        skips: 0,
      });
    }
    for (const g of groups) byId.get(String(g.user_id))?.groups.push(String(g.name));
    for (const m of methods) {
      byId.get(String(m.user_id))?.methods.push({ kind: m.kind as StoredMethodKind, verifiedAt: nn(m.verified_at), createdAt: Number(m.created_at) });
    }
    for (const a of answers) byId.get(String(a.user_id))?.answers.push({ questionId: String(a.question_id), createdAt: Number(a.created_at) });
    for (const st of states) {
      const facts = byId.get(String(st.user_id));
      if (facts) {
        facts.confirmedAt = nn(st.confirmed_at);
        facts.skips = Number(st.skips);
      }
    }
    return { facts: [...byId.values()], last: String(users[users.length - 1]!.username_key) };
  }

  /** Reset-related events since `since`, counted by type, outcome, details.reason and details.method. */
  async resetCounts(since: number): Promise<ResetCount[]> {
    const pg = this.db.client.config.client === 'pg';
    const field = (name: 'reason' | 'method') => (pg ? `(details::json ->> '${name}')` : `json_extract(details, '$.${name}')`);
    const rows = await this.db<Row>('audit_events')
      .select('type', 'outcome', this.db.raw(`${field('reason')} as reason`), this.db.raw(`${field('method')} as method`))
      .count({ count: '*' })
      .where('at', '>=', since)
      .whereIn('type', [...RESET_EVENT_TYPES])
      .groupBy('type', 'outcome', 'reason', 'method');
    return rows.map((r) => ({ type: String(r.type), outcome: String(r.outcome), reason: str(r.reason), method: str(r.method), count: Number(r.count) }));
  }
}
