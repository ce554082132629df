/**
 * The audit trail for administrators: `audit` and `audit purge` (the SSPR reports are in
 * reports.ts). The SQL lives in src/store/reports.ts.
 */
import type { Config } from '../config/schema.ts';
import type { Store } from '../store/index.ts';
import type { AuditLine } from '../store/reports.ts';
import type { Command, CommandContext } from './commands.ts';
import { tryUsernameKey } from '../users/names.ts';
import { userNotFound } from '../users/service.ts';
import { systemClock } from '../clock.ts';
import { UsageError } from './errors.ts';
import { cell, iso, table, visible } from './format.ts';

/** What the commands borrow from commands.ts (passed in, so the two modules don't import each other). */
export interface CommandHelpers {
  /** Opens the database (migrated) and runs `fn` with the store; always closes the database. */
  withStore<T>(ctx: CommandContext, fn: (store: Store, config: Config) => Promise<T>): Promise<T>;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

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

/** An option's value as a whole number from 1 to `max`; `fallback` when not given. */
export function wholeNumber(option: string, value: string | undefined, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isInteger(n) || n < 1 || n > max) throw new UsageError(`${option} must be a whole number from 1 to ${max}`);
  return n;
}

// audit

function detailValue(value: string | number | boolean | null): string {
  const text = value === null ? 'null' : String(value);
  return text === '' || /[\s"=\\]/.test(text) ? visible(`"${text.replace(/["\\]/g, '\\$&')}"`) : visible(text);
}

const detailsText = (details: AuditLine['details']) =>
  Object.entries(details ?? {})
    .map(([k, v]) => `${cell(k)}=${detailValue(v)}`)
    .join(' ');


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
  ];
}
