/**
 * The SSPR reports for administrators: `report registration` and `report resets`. The SQL lives in
 * src/store/reports.ts; who is in scope and what counts as registered is decided by StandingService
 * (src/sspr/standing.ts), as at sign-in.
 */
import type { Config } from '../config/schema.ts';
import type { RegistrationFacts, ReportStore, ResetCount } from '../store/reports.ts';
import type { Store } from '../store/index.ts';
import type { Command } from './commands.ts';
import { availableMethods, type Standing } from '../sspr/policy.ts';
import { StandingService } from '../sspr/standing.ts';
import { methodIds, methodOfKind, type MethodId } from '../methods/ids.ts';
import { systemClock } from '../clock.ts';
import { DAY, wholeNumber, type CommandHelpers } from './audit-commands.ts';
import { cell, iso, percent, percentText, table, tableRow } from './format.ts';

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
    const answeredAt = f.answers.reduce((latest, a) => Math.max(latest, a.createdAt), -Infinity);
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

const USER_HEADER = ['username', 'registered', 'methods (verified, UTC)', 'questions', 'confirmed'];

function userCells(u: UserRegistration): string[] {
  return [
    `${cell(u.username)}${u.status === 'disabled' ? ' (disabled)' : ''}`,
    `${u.registered ? 'yes' : 'no'} (${u.required} needed)`,
    u.methods.map((m) => `${m.method} ${m.verifiedAt ? m.verifiedAt.slice(0, 10) : 'unverified'}${m.counts ? '' : ' (not counted)'}`).join(', ') || '-',
    String(u.securityQuestions),
    u.confirmedAt?.slice(0, 10) ?? 'never',
  ];
}

/** A page of the users in scope, for the report. */
async function* usersInScope(standing: StandingService, reports: ReportStore, pageSize: number | undefined): AsyncGenerator<UserRegistration[]> {
  for await (const page of standing.everyonePaged(reports, pageSize)) yield page.flatMap(({ facts: f, standing: s }) => (s.inScope ? [userRegistration(f, s)] : []));
}

/** What the first pass over the users learns: the counts, and the width of each column of the users' table. */
interface RegistrationTotals {
  users: number;
  inScope: number;
  registered: number;
  byMethod: Record<MethodId, number>;
  widths: number[];
}

async function registrationTotals(standing: StandingService, reports: ReportStore, pageSize: number | undefined): Promise<RegistrationTotals> {
  const totals: RegistrationTotals = {
    users: 0,
    inScope: 0,
    registered: 0,
    byMethod: Object.fromEntries(methodIds.map((id) => [id, 0])) as Record<MethodId, number>,
    widths: USER_HEADER.map((h) => h.length),
  };
  for await (const page of standing.everyonePaged(reports, pageSize)) {
    totals.users += page.length;
    for (const { facts, standing: s } of page) {
      if (!s.inScope) continue;
      const u = userRegistration(facts, s);
      totals.inScope += 1;
      if (u.registered) totals.registered += 1;
      for (const id of new Set(u.methods.filter((m) => m.counts).map((m) => m.method))) totals.byMethod[id] += 1;
      userCells(u).forEach((c, i) => (totals.widths[i] = Math.max(totals.widths[i]!, c.length)));
    }
  }
  return totals;
}

function registrationSummary(config: Config, t: RegistrationTotals, now: number) {
  const offered = availableMethods(config.sspr, false);
  const methods = Object.fromEntries(
    methodIds.map((id) => [id, { offered: offered.includes(id), users: t.byMethod[id], percent: percent(t.byMethod[id], t.inScope) }]),
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
      users: t.users,
      inScope: t.inScope,
      registered: t.registered,
      notRegistered: t.inScope - t.registered,
      registeredPercent: percent(t.registered, t.inScope),
      notRegisteredPercent: percent(t.inScope - t.registered, t.inScope),
    },
    methods,
  };
}

function printSummary(out: (text: string) => void, r: ReturnType<typeof registrationSummary>): void {
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
}

/** Where a long report goes: lines, and a wait for the reader to take them (see CommandContext.drain). */
export interface ReportOutput {
  out(text: string): void;
  drain(): Promise<void>;
}

/**
 * `report registration`, in memory bounded by one page of users whatever their number: a first
 * pass over the pages counts and measures the columns, a second prints the users a page at a time.
 * Both passes read one snapshot, so they see the same users. The output is what the report built
 * whole printed: tables padded to the widest cell, or `JSON.stringify(report, null, 2)`.
 */
export async function writeRegistrationReport(store: Store, config: Config, now: number, output: ReportOutput, options: { json: boolean; pageSize?: number }): Promise<void> {
  const { out } = output;
  const standing = new StandingService({ store, config: () => config, clock: { now: () => now } });
  await store.reports.snapshot(async (reports) => {
    const totals = await registrationTotals(standing, reports, options.pageSize);
    const summary = registrationSummary(config, totals, now);
    if (options.json) {
      // The summary's own JSON without its closing brace, then the users as they come.
      const head = JSON.stringify(summary, null, 2).replace(/\n}$/, ',');
      if (totals.inScope === 0) return out(`${head}\n  "users": []\n}`);
      out(`${head}\n  "users": [`);
      // Each user's JSON is followed by a comma only when another follows: the last is held back.
      let held: string | undefined;
      for await (const page of usersInScope(standing, reports, options.pageSize)) {
        const lines: string[] = [];
        for (const u of page) {
          if (held !== undefined) lines.push(`${held},`);
          held = `    ${JSON.stringify(u, null, 2).replace(/\n/g, '\n    ')}`;
        }
        if (lines.length) out(lines.join('\n'));
        await output.drain();
      }
      if (held !== undefined) out(held);
      out('  ]\n}');
      return;
    }
    printSummary(out, summary);
    if (totals.inScope === 0) return out('(no users in scope)');
    out(tableRow(USER_HEADER, totals.widths));
    for await (const page of usersInScope(standing, reports, options.pageSize)) {
      if (page.length) out(page.map((u) => tableRow(userCells(u), totals.widths)).join('\n'));
      await output.drain();
    }
  });
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

export function reportCommands({ withStore }: CommandHelpers): Command[] {
  return [
    {
      name: 'report registration',
      args: [],
      options: ['json'],
      synopsis: '[--json]',
      summary: 'SSPR registration: coverage of the users in scope, users per method, and per user the methods registered and when',
      async run(ctx) {
        const now = systemClock.now();
        await withStore(ctx, (store, config) => writeRegistrationReport(store, config, now, ctx, { json: ctx.values.json === true }));
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
