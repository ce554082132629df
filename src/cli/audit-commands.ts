/**
 * The audit trail and the SSPR reports for administrators: `audit`, `audit purge`,
 * `report registration` and `report resets`. The SQL lives in src/store/reports.ts; who is in
 * scope and what counts as registered is decided by StandingService (src/sspr/standing.ts), as at sign-in.
 */
import type { Config } from '../config/schema.ts';
import type { Store } from '../store/index.ts';
import type { AuditLine, RegistrationFacts, ResetCount } from '../store/reports.ts';
import type { Command, CommandContext } from './commands.ts';
import { availableMethods, type Standing } from '../sspr/policy.ts';
import { StandingService } from '../sspr/standing.ts';
import { methodIds, methodOfKind, type MethodId } from '../methods/ids.ts';
import { tryUsernameKey } from '../users/names.ts';
import { userNotFound } from '../users/service.ts';
import { systemClock } from '../clock.ts';
import { UsageError } from './errors.ts';

/** What the commands borrow from commands.ts (passed in, so the two modules don't import each other). */
export interface CommandHelpers {
  /** Opens the database (migrated) and runs `fn` with the store; always closes the database. */
  withStore<T>(ctx: CommandContext, fn: (store: Store, config: Config) => Promise<T>): Promise<T>;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** Deletes the audit events older than the retention period; returns how many were deleted (`audit purge`; the server's purge job in app.ts does the same). */
export async function purgeAudit(store: Store, retentionDays: number, now: number): Promise<number> {
  return store.audit.purgeOlderThan(now - retentionDays * DAY);
}

// Options

const RELATIVE = /^(\d{1,6})([dhm])$/;
const ABSOLUTE = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?(Z|[+-]\d{2}:?\d{2})?)?$/i;
const UNITS: Record<string, number> = { d: DAY, h: HOUR, m: MINUTE };

/**
 * `--since`: an ISO 8601 date or date-time (UTC unless it carries an offset, like everything the
 * CLI prints) or a time back from now: 7d, 24h, 30m.
 */
export function parseSince(value: string, now: number): number {
  const relative = RELATIVE.exec(value);
  if (relative && Number(relative[1]) > 0) return now - Number(relative[1]) * UNITS[relative[2]!]!;
  const m = ABSOLUTE.exec(value);
  if (m) {
    const [year, month, date, hour, minute, second] = [m[1], m[2], m[3], m[4] ?? '0', m[5] ?? '0', m[6] ?? '0'].map(Number) as [number, number, number, number, number, number];
    const ms = Number((m[7] ?? '0').padEnd(3, '0'));
    const utc = Date.UTC(year, month - 1, date, hour, minute, second, ms);
    const d = new Date(utc);
    const valid =
      d.getUTCFullYear() === year && d.getUTCMonth() === month - 1 && d.getUTCDate() === date && d.getUTCHours() === hour && d.getUTCMinutes() === minute && d.getUTCSeconds() === second;
    const zone = /^([+-])(\d{2}):?(\d{2})$/.exec(m[8] ?? '');
    const offset = zone ? (zone[1] === '-' ? -1 : 1) * (Number(zone[2]) * 60 + Number(zone[3])) : 0;
    if (valid && (!zone || (Number(zone[2]) <= 23 && Number(zone[3]) <= 59))) return utc - offset * MINUTE;
  }
  throw new UsageError(
    `--since must be an ISO date or time (2026-03-01, 2026-03-01T09:30Z; UTC unless an offset is given) or a time back from now such as 7d, 24h or 30m, not '${value}'`,
  );
}

function wholeNumber(option: string, value: string | undefined, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isInteger(n) || n < 1 || n > max) throw new UsageError(`${option} must be a whole number from 1 to ${max}`);
  return n;
}

// Output

/** Control and format characters made visible: report fields come from requests and must not steer the terminal. */
const visible = (text: string) => text.replace(/[\p{Cc}\p{Cf}]/gu, (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`);

/** A column value: '-' when empty, whitespace escaped so the columns stay columns. */
const cell = (value: string | null) => (value === null || value === '' ? '-' : visible(value).replace(/\s/g, (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`));

function detailValue(value: string | number | boolean | null): string {
  const text = value === null ? 'null' : String(value);
  return text === '' || /[\s"=\\]/.test(text) ? visible(`"${text.replace(/["\\]/g, '\\$&')}"`) : visible(text);
}

const detailsText = (details: AuditLine['details']) =>
  Object.entries(details ?? {})
    .map(([k, v]) => `${cell(k)}=${detailValue(v)}`)
    .join(' ');

function table(rows: string[][]): string {
  // A loop, not Math.max(...): a report over a million users would overflow the call stack.
  const widths = rows[0]!.map((_cell, i) => rows.reduce((w, r) => Math.max(w, r[i]!.length), 0));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

/** Percentage with one decimal; null when there is nothing to divide by. */
const percent = (part: number, whole: number) => (whole === 0 ? null : Math.round((part * 1000) / whole) / 10);
const percentText = (value: number | null) => (value === null ? 'n/a' : `${value.toFixed(1)}%`);

// audit

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The user id for `--user`: a username (any case), or the id of a user, also of a deleted one whose events remain. */
async function auditUserId(store: Store, name: string): Promise<string> {
  const key = tryUsernameKey(name);
  const user = key ? await store.users.findByUsernameKey(key) : undefined;
  if (user) return user.id;
  if (UUID.test(name)) {
    const id = name.toLowerCase();
    if ((await store.users.findById(id)) || (await store.reports.hasAuditEventsFor(id))) return id;
  }
  throw userNotFound(name);
}

function auditRecord(e: AuditLine) {
  return {
    id: e.id,
    at: iso(e.at),
    type: e.type,
    outcome: e.outcome,
    userId: e.userId,
    username: e.username,
    clientId: e.clientId,
    ip: e.ip,
    flowId: e.flowId,
    details: e.details ?? {},
  };
}

// report registration

interface UserRegistration {
  username: string;
  id: string;
  status: string;
  admin: boolean;
  required: number;
  registered: boolean;
  methods: { method: MethodId; verifiedAt: string | null; counts: boolean }[];
  securityQuestions: number;
  confirmedAt: string | null;
  reconfirmDue: boolean;
}

function userRegistration(f: RegistrationFacts, s: Standing): UserRegistration {
  const methods = f.methods.map((m) => {
    const method = methodOfKind(m.kind);
    return { method, verifiedAt: iso(m.verifiedAt), counts: s.registered.includes(method) };
  });
  if (f.answers.length) {
    const answeredAt = Math.max(...f.answers.map((a) => a.createdAt));
    methods.push({ method: 'securityQuestions', verifiedAt: iso(answeredAt), counts: s.registered.includes('securityQuestions') });
  }
  methods.sort((a, b) => methodIds.indexOf(a.method) - methodIds.indexOf(b.method));
  return {
    username: f.username,
    id: f.id,
    status: f.status,
    admin: s.isAdmin,
    required: s.required,
    registered: s.enough,
    methods,
    securityQuestions: f.answers.length,
    confirmedAt: iso(f.confirmedAt),
    reconfirmDue: s.reconfirmDue,
  };
}

function registrationReport(config: Config, all: { facts: RegistrationFacts; standing: Standing }[], now: number) {
  const users = all.flatMap(({ facts: f, standing: s }) => (s.inScope ? [userRegistration(f, s)] : []));
  const registered = users.filter((u) => u.registered).length;
  const offered = availableMethods(config.sspr, false);
  const methods = Object.fromEntries(
    methodIds.map((id) => {
      const count = users.filter((u) => u.methods.some((m) => m.method === id && m.counts)).length;
      return [id, { offered: offered.includes(id), users: count, percent: percent(count, users.length) }];
    }),
  ) as Record<MethodId, { offered: boolean; users: number; percent: number | null }>;
  return {
    generatedAt: iso(now),
    policy: {
      enabled: config.sspr.enabled,
      groups: config.sspr.groups,
      methodsRequired: config.sspr.methodsRequired,
      administratorGroups: config.sspr.administrators.groups,
    },
    coverage: {
      users: all.length,
      inScope: users.length,
      registered,
      notRegistered: users.length - registered,
      registeredPercent: percent(registered, users.length),
      notRegisteredPercent: percent(users.length - registered, users.length),
    },
    methods,
    users,
  };
}

function printRegistration(out: (text: string) => void, r: ReturnType<typeof registrationReport>): void {
  const scope = r.policy.enabled === 'selected' ? `members of ${r.policy.groups.join(', ')}` : r.policy.enabled === 'all' ? 'everyone' : 'nobody';
  out(`SSPR registration, ${r.generatedAt}`);
  const admins = r.policy.administratorGroups.length ? `, 2 for administrators (${r.policy.administratorGroups.join(', ')})` : '';
  out(`SSPR is enabled for ${scope}; ${r.policy.methodsRequired} method(s) required${admins}`);
  out('');
  const c = r.coverage;
  out(
    table([
      ['users in scope:', `${c.inScope} of ${c.users}`],
      ['registered:', `${c.registered} (${percentText(c.registeredPercent)})`],
      ['not registered:', `${c.notRegistered} (${percentText(c.notRegisteredPercent)})`],
    ]),
  );
  out('');
  out(
    table([
      ['method', 'users'],
      ...methodIds.map((id) => {
        const m = r.methods[id];
        return [id, `${m.users} (${percentText(m.percent)})${m.offered ? '' : ' not offered'}`];
      }),
    ]),
  );
  out('');
  if (!r.users.length) return out('(no users in scope)');
  out(
    table([
      ['username', 'registered', 'methods (verified, UTC)', 'questions', 'confirmed'],
      ...r.users.map((u) => [
        `${cell(u.username)}${u.status === 'disabled' ? ' (disabled)' : ''}`,
        `${u.registered ? 'yes' : 'no'} (${u.required} needed)`,
        u.methods.map((m) => `${m.method} ${m.verifiedAt ? m.verifiedAt.slice(0, 10) : 'unverified'}${m.counts ? '' : ' (not counted)'}`).join(', ') || '-',
        String(u.securityQuestions),
        u.confirmedAt?.slice(0, 10) ?? 'never',
      ]),
    ]),
  );
}

// report resets

const REFUSAL_REASONS = ['not_enabled', 'not_registered', 'onprem_managed'] as const;
/** Why a flow that got past the start failed (sspr.reset.failed): listed even when 0. */
const FAILURE_REASONS = ['blocked', 'too_many_attempts', 'writeback', 'incomplete'] as const;

/** Counts by a key: the `first` keys always and in that order (0 when absent), then the others alphabetically. */
function tally(counts: ResetCount[], key: (c: ResetCount) => string, first: readonly string[] = []) {
  const byKey = new Map<string, number>(first.map((k) => [k, 0]));
  for (const c of counts) byKey.set(key(c), (byKey.get(key(c)) ?? 0) + c.count);
  const others = [...byKey.keys()].filter((k) => !first.includes(k)).sort();
  return { total: counts.reduce((sum, c) => sum + c.count, 0), byKey: Object.fromEntries([...first, ...others].map((k) => [k, byKey.get(k)!])) };
}

function resetsReport(counts: ResetCount[], days: number, now: number) {
  const of = (type: string, outcome?: string) => counts.filter((c) => c.type === type && (outcome === undefined || c.outcome === outcome));
  const total = (rows: ResetCount[]) => rows.reduce((sum, c) => sum + c.count, 0);
  const refused = tally(of('sspr.reset.started', 'failure'), (c) => c.reason ?? 'unknown', REFUSAL_REASONS);
  const steps = tally(of('sspr.reset.step', 'failure'), (c) => c.method ?? 'unknown');
  const failed = tally(of('sspr.reset.failed'), (c) => c.reason ?? 'unknown', FAILURE_REASONS);
  return {
    days,
    since: iso(now - days * DAY),
    until: iso(now),
    started: total(of('sspr.reset.started')),
    refused: { total: refused.total, byReason: refused.byKey },
    completed: total(of('sspr.reset.completed')),
    unlocked: total(of('sspr.unlocked')),
    failedSteps: { total: steps.total, byMethod: steps.byKey },
    failed: { total: failed.total, byReason: failed.byKey },
    blocked: total(of('sspr.blocked')),
    contactAdmin: total(of('sspr.contact_admin')),
  };
}

function printResets(out: (text: string) => void, r: ReturnType<typeof resetsReport>): void {
  const sub = (byKey: Record<string, number>) => Object.entries(byKey).map(([k, n]) => [`  ${cell(k)}`, String(n)]);
  out(`SSPR password resets, last ${r.days} day(s): ${r.since} to ${r.until}`);
  out(
    table([
      ['flows started:', String(r.started)],
      ['refused:', String(r.refused.total)],
      ...sub(r.refused.byReason),
      ['completed (new password):', String(r.completed)],
      ['unlocked (no new password):', String(r.unlocked)],
      ['failed verification steps:', String(r.failedSteps.total)],
      ...sub(r.failedSteps.byMethod),
      ['failed resets:', String(r.failed.total)],
      ...sub(r.failed.byReason),
      ['blocked from SSPR:', String(r.blocked)],
      ['contact-admin requests:', String(r.contactAdmin)],
    ]),
  );
}

export function auditCommands({ withStore }: CommandHelpers): Command[] {
  return [
    {
      name: 'audit',
      args: [],
      options: ['user', 'type', 'since', 'limit', 'json'],
      synopsis: '[--user USERNAME] [--type PREFIX] [--since WHEN] [--limit N] [--json]',
      summary:
        'show the newest audit events (default 100), oldest first; WHEN is an ISO date or time (UTC unless an offset is given) or 7d, 24h, 30m; --user also takes the id of a deleted user',
      async run(ctx) {
        const now = systemClock.now();
        const limit = wholeNumber('--limit', ctx.values.limit, 100, 10_000);
        const since = ctx.values.since === undefined ? undefined : parseSince(ctx.values.since, now);
        const type = ctx.values.type;
        if (type !== undefined && (type === '' || type.length > 64)) throw new UsageError('--type must be 1 to 64 characters, the start of an event type (e.g. sspr.reset)');
        const events = await withStore(ctx, async (store) => {
          const userId = ctx.values.user === undefined ? undefined : await auditUserId(store, ctx.values.user);
          return store.reports.auditEvents({ userId, typePrefix: type, since, limit });
        });
        if (ctx.values.json) return ctx.out(JSON.stringify(events.map(auditRecord), null, 2));
        if (!events.length) return ctx.out('(no events)');
        ctx.out(
          table(
            events.map((e) => [
              iso(e.at)!,
              cell(e.type),
              cell(e.outcome),
              cell(e.username ?? e.userId),
              cell(e.clientId),
              cell(e.ip),
              cell(e.flowId),
              detailsText(e.details),
            ]),
          ),
        );
      },
    },
    {
      name: 'audit purge',
      args: [],
      options: ['yes'],
      synopsis: '--yes',
      summary: 'delete the audit events older than audit.retentionDays (--yes is required)',
      async run(ctx) {
        const days = (await ctx.loadConfig()).audit.retentionDays;
        if (!ctx.values.yes) throw new UsageError(`audit purge deletes the audit events older than ${days} days (audit.retentionDays): add --yes to confirm`);
        const now = systemClock.now();
        const deleted = await withStore(ctx, async (store) => {
          const count = await purgeAudit(store, days, now);
          await store.audit.record({ type: 'admin.audit.purged', outcome: 'success', details: { by: 'cli', deleted: count, retentionDays: days } }, now);
          return count;
        });
        ctx.out(`deleted ${deleted} audit event${deleted === 1 ? '' : 's'} older than ${days} days (before ${iso(now - days * DAY)})`);
      },
    },
    {
      name: 'report registration',
      args: [],
      options: ['json'],
      synopsis: '[--json]',
      summary: 'SSPR registration: coverage of the users in scope, users per method, and per user the methods registered and when',
      async run(ctx) {
        const now = systemClock.now();
        const report = await withStore(ctx, async (store, config) => {
          const standing = new StandingService({ store, config: () => config, clock: { now: () => now } });
          return registrationReport(config, await standing.everyone(), now);
        });
        if (ctx.values.json) return ctx.out(JSON.stringify(report, null, 2));
        printRegistration(ctx.out, report);
      },
    },
    {
      name: 'report resets',
      args: [],
      options: ['days', 'json'],
      synopsis: '[--days N] [--json]',
      summary: 'SSPR password resets over the last N days (default 30): started, refused by reason, completed, unlocked, failed steps by method, failed resets by reason, blocked, contact-admin requests',
      async run(ctx) {
        const days = wholeNumber('--days', ctx.values.days, 30, 3650);
        const now = systemClock.now();
        const counts = await withStore(ctx, (store) => store.reports.resetCounts(now - days * DAY));
        const report = resetsReport(counts, days, now);
        if (ctx.values.json) return ctx.out(JSON.stringify(report, null, 2));
        printResets(ctx.out, report);
      },
    },
  ];
}
