/**
 * Synchronises users and groups from the directory into the store: at start, every
 * `directory.syncIntervalMinutes`, and on `oidc-sspr directory sync [--dry-run]`. Users are read in
 * pages (paged search), so memory grows only with the set of usernames seen, never with the
 * entries. Directory users have the password source `onpremises` and no local password; their
 * groups are the directory's; their mobile and office numbers pre-populate the methods, marked as
 * set by the directory (a number the user registered stays theirs). A user gone from the directory
 * is disabled (sessions and tokens revoked), never deleted; only after a complete read, so a sync
 * cut short disables nobody, and a read that finds no users at all disables nobody either. A user
 * the sync disabled is enabled again when it is back in the directory; one an administrator
 * disabled stays disabled.
 *
 * Groups: the sync owns the memberships it added (marked as set by the directory) and replaces
 * exactly those; memberships an administrator added here (`users add-group`) stay. When the
 * directory returns no groups at all (a group filter that matches nothing) memberships are left as
 * they are, as for an empty user read. A sync that fails part-way is audited (`directory.sync`,
 * failure, with the error and how far it got); what it already wrote stays, the next sync goes on.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { createStore, type Store } from '../store/index.ts';
import type { LocalDirectoryUser, LocalMethod, DirectoryMethodKind } from '../store/directory.ts';
import type { UserService } from '../users/service.ts';
import type { Clock } from '../clock.ts';
import { ConfusableUsernameError, DuplicateError } from '../store/users.ts';
import { normaliseDisplayName, normaliseEmail, normaliseGroupName, normaliseUsername, usernameKey, usernameSkeleton } from '../users/names.ts';
import { parsePhone } from '../methods/mobile-phone/register.ts';
import { DirectoryError } from './errors.ts';
import { dnKey, type DirectoryClient, type DirectoryEntry, type DirectoryGroup } from './client.ts';

export interface SyncChange {
  username: string;
  /** What changes: created; or for an update the fields (displayName, email, groups, mobile, officePhone, link). */
  changes: string[];
}

export interface SyncReport {
  dryRun: boolean;
  created: SyncChange[];
  updated: SyncChange[];
  disabled: string[];
  unchanged: number;
  /** Entries not taken, with why (missing username attribute, invalid username, duplicate, a local cloud account of that name). */
  skipped: { dn: string; reason: string }[];
  /** Set when the directory returned no users at all: then nobody was disabled. */
  emptyDirectory: boolean;
  groups: number;
  /** Set when the directory returned no groups at all: then no membership was changed. */
  noGroups: boolean;
}

type GroupRef = { name: string; key: string };
interface Run {
  /** Username key → key of the DN of the entry used for it (duplicates are checked against it). */
  seen: Map<string, string>;
  byMember: Map<string, GroupRef[]>;
  byGroupDn: Map<string, GroupRef>;
  report: SyncReport;
}

const toE164 = (country: string, value: string | undefined): string | undefined => {
  if (!value) return undefined;
  const parsed = parsePhone(country, value, false);
  return parsed.ok ? parsed.e164 : undefined;
};

export class DirectorySync {
  readonly #client: DirectoryClient;
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #country: () => string;

  /** `users` is no longer needed (kept so callers need not change). */
  constructor(deps: { client: DirectoryClient; store: Store; users?: UserService; clock: Clock; log: Logger; defaultCountry: () => string }) {
    this.#client = deps.client;
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#log = deps.log;
    this.#country = deps.defaultCountry;
  }

  /** Runs one sync; with dryRun nothing is written and the report says what would change. */
  async run(options: { dryRun?: boolean; onPage?: (entries: number) => Promise<void> | void } = {}): Promise<SyncReport> {
    const dryRun = options.dryRun ?? false;
    const report: SyncReport = { dryRun, created: [], updated: [], disabled: [], unchanged: 0, skipped: [], emptyDirectory: false, groups: 0, noGroups: false };
    let pages = 0;
    try {
      const groups = await this.#client.groups();
      report.groups = groups.length;
      report.noGroups = groups.length === 0;
      if (report.noGroups) this.#log.warn({ event: 'directory.sync.no_groups' }, 'the directory returned no groups: group memberships are left as they are');
      const run: Run = { seen: new Map<string, string>(), byMember: new Map(), byGroupDn: new Map(), report };
      for (const g of groups) this.#indexGroup(g, run.byMember, run.byGroupDn);
      for await (const page of this.#client.users()) {
        for (const dn of page.skipped) report.skipped.push({ dn, reason: `no ${this.#client.config.attributes.username} attribute` });
        await this.#page(page.entries, run);
        pages += 1;
        await options.onPage?.(page.entries.length);
      }
      if (run.seen.size === 0) {
        report.emptyDirectory = true;
        this.#log.warn({ event: 'directory.sync.empty', baseDn: this.#client.config.baseDn }, 'the directory returned no users: nobody is disabled');
      } else {
        await this.#disableGone(run.seen, report);
      }
    } catch (error) {
      if (!dryRun) {
        const code = error instanceof DirectoryError ? error.code : 'error';
        // What the pages read so far wrote stays (each user on its own); nobody was disabled.
        await this.#store.audit
          .record({ type: 'directory.sync', outcome: 'failure', details: { error: code, ...(error instanceof DirectoryError ? { reason: error.reason } : {}), pages, ...this.#counts(report) } }, this.#clock.now())
          .catch(() => {});
      }
      throw error;
    }
    if (!dryRun) {
      await this.#store.audit.record({ type: 'directory.sync', outcome: 'success', details: { ...this.#counts(report), empty: report.emptyDirectory ? 1 : 0, noGroups: report.noGroups ? 1 : 0 } }, this.#clock.now());
    }
    return report;
  }

  #counts(report: SyncReport): Record<string, number> {
    return { created: report.created.length, updated: report.updated.length, disabled: report.disabled.length, skipped: report.skipped.length, unchanged: report.unchanged };
  }

  #indexGroup(g: DirectoryGroup, byMember: Map<string, GroupRef[]>, byGroupDn: Map<string, GroupRef>): void {
    let group;
    try {
      group = normaliseGroupName(g.name);
    } catch {
      this.#log.warn({ event: 'directory.sync.group_skipped', dn: g.dn }, 'directory group with an unusable name skipped');
      return;
    }
    byGroupDn.set(dnKey(g.dn), group);
    for (const member of g.members) byMember.set(dnKey(member), [...(byMember.get(dnKey(member)) ?? []), group]);
  }

  #groupsOf(entry: DirectoryEntry, byMember: Map<string, GroupRef[]>, byGroupDn: Map<string, GroupRef>): GroupRef[] {
    const found = new Map<string, GroupRef>();
    for (const g of byMember.get(dnKey(entry.dn)) ?? []) found.set(g.key, g);
    for (const dn of entry.memberOf) {
      const g = byGroupDn.get(dnKey(dn));
      if (g) found.set(g.key, g);
    }
    return [...found.values()].sort((a, b) => a.key.localeCompare(b.key));
  }

  async #page(entries: DirectoryEntry[], run: Run): Promise<void> {
    const { report } = run;
    const candidates: { entry: DirectoryEntry; username: string; key: string }[] = [];
    for (const entry of entries) {
      try {
        const username = normaliseUsername(entry.username);
        candidates.push({ entry, username, key: usernameKey(username) });
      } catch (error) {
        report.skipped.push({ dn: entry.dn, reason: `invalid username: ${(error as Error).message}` });
      }
    }
    const local = await this.#store.directory.byKeys([...new Set(candidates.map((c) => c.key))]);
    const valid: typeof candidates = [];
    for (const c of candidates) {
      const chosen = run.seen.get(c.key);
      const dn = dnKey(c.entry.dn);
      if (chosen !== undefined) {
        // The entry chosen for this name: used when it comes (DNs are unique); any other is a duplicate.
        if (chosen === dn) valid.push(c);
        else report.skipped.push({ dn: c.entry.dn, reason: `duplicate username ${c.username} (the first entry is used)` });
        continue;
      }
      // A second entry of a name read before the one the user is linked to never takes the account
      // over while the linked entry is still a user there: that one is used when it comes.
      const linked = local.get(c.key)?.directoryDn;
      if (linked && dnKey(linked) !== dn && (await this.#client.isUser(linked))) {
        run.seen.set(c.key, dnKey(linked));
        report.skipped.push({ dn: c.entry.dn, reason: `duplicate username ${c.username} (the entry it is linked to, ${linked}, is used)` });
        continue;
      }
      run.seen.set(c.key, dn);
      valid.push(c);
    }
    const ids = [...local.values()].map((u) => u.id);
    const [methods, groupKeys] = await Promise.all([this.#store.directory.methodsOf(ids), this.#store.directory.groupKeysOf(ids)]);
    const write = async (store: Store) => {
      for (const { entry, username, key } of valid) {
        const existing = local.get(key);
        if (existing && existing.directoryDn === null && existing.passwordSource === 'cloud') {
          // Never take over an account created here: an administrator decides (users set-source).
          report.skipped.push({ dn: entry.dn, reason: `a local cloud account ${existing.username} exists` });
          continue;
        }
        const groups = report.noGroups ? undefined : this.#groupsOf(entry, run.byMember, run.byGroupDn);
        await this.#apply(store, entry, username, existing, methods.get(existing?.id ?? '') ?? [], groupKeys.get(existing?.id ?? '') ?? { directory: [], local: [] }, groups, report);
      }
    };
    if (report.dryRun) return write(this.#store);
    // One transaction per page (one commit, not one per statement); a page that fails leaves nothing
    // of itself, and the report forgets it too.
    const counts = { created: report.created.length, updated: report.updated.length, skipped: report.skipped.length, unchanged: report.unchanged };
    try {
      await this.#store.db.transaction((trx) => write(createStore(trx)));
    } catch (error) {
      report.created.length = counts.created;
      report.updated.length = counts.updated;
      report.skipped.length = counts.skipped;
      report.unchanged = counts.unchanged;
      throw error;
    }
  }

  /** `groups` undefined: leave the memberships as they are (the directory returned no groups). */
  async #apply(store: Store, entry: DirectoryEntry, username: string, existing: LocalDirectoryUser | undefined, methods: LocalMethod[], groupKeys: { directory: string[]; local: string[] }, groups: GroupRef[] | undefined, report: SyncReport): Promise<void> {
    const now = this.#clock.now();
    let displayName = username;
    try {
      displayName = normaliseDisplayName(entry.displayName ?? username) || username;
    } catch {
      /* an unusable display name: the username stands in */
    }
    let email: string | null = null;
    try {
      email = entry.mail ? normaliseEmail(entry.mail) : null;
    } catch {
      /* not an address: none */
    }
    const numbers: Record<DirectoryMethodKind, string | undefined> = { mobile_phone: toE164(this.#country(), entry.mobile), office_phone: toE164(this.#country(), entry.officePhone) };
    const changes: string[] = [];
    if (!existing) changes.push('created');
    else {
      if (existing.directoryDn !== entry.dn) changes.push('link');
      if (existing.displayName !== displayName) changes.push('displayName');
      if (existing.email !== email) changes.push('email');
      if (existing.disabledBySync) changes.push('enabled');
    }
    // A group an administrator gave here as well is theirs: the directory's set is the rest.
    const wanted = groups?.filter((g) => !groupKeys.local.includes(g.key));
    const sameGroups = !wanted || groupKeys.directory.slice().sort().join('\n') === wanted.map((g) => g.key).join('\n');
    if (!sameGroups) changes.push('groups');
    const methodOps: { kind: DirectoryMethodKind; value: string | undefined }[] = [];
    for (const kind of ['mobile_phone', 'office_phone'] as const) {
      const current = methods.find((m) => m.kind === kind);
      const wanted = numbers[kind];
      if (wanted && (!current || (current.setBy === 'directory' && current.value !== wanted))) methodOps.push({ kind, value: wanted });
      else if (!wanted && current?.setBy === 'directory') methodOps.push({ kind, value: undefined });
    }
    for (const op of methodOps) changes.push(op.kind === 'mobile_phone' ? 'mobile' : 'officePhone');
    if (changes.length === 0) {
      report.unchanged += 1;
      return;
    }
    if (!report.dryRun) {
      let id = existing?.id;
      if (!id) {
        try {
          const user = { id: randomUUID(), username, usernameKey: usernameKey(username), usernameSkeleton: usernameSkeleton(username), displayName, email, emailVerified: false, passwordSource: 'onpremises' as const, passwordHash: null, now };
          // In a savepoint: a name taken meanwhile must not abort the page's transaction (PostgreSQL).
          id = (await store.db.transaction((savepoint) => createStore(savepoint).users.create(user))).id;
        } catch (error) {
          if (error instanceof ConfusableUsernameError) {
            // A look-alike of an existing account: reported, never created; the sync goes on.
            report.skipped.push({ dn: entry.dn, reason: `username ${username} can be mistaken for the existing user ${error.existing}` });
            return;
          }
          if (!(error instanceof DuplicateError)) throw error;
          // Another instance created it meanwhile: the next sync updates it.
          report.skipped.push({ dn: entry.dn, reason: 'created concurrently elsewhere' });
          return;
        }
      }
      await store.directory.link(id, { dn: entry.dn, displayName, email }, now);
      if (existing?.disabledBySync && (await store.directory.enableReturned(id, now))) {
        await store.audit.record({ type: 'directory.user_enabled', outcome: 'info', userId: id, details: { reason: 'back_in_directory' } }, now);
        this.#log.info({ event: 'directory.user_enabled', userId: id }, 'user back in the directory: enabled again');
      }
      if (!sameGroups) await store.directory.setGroups(id, wanted!, now);
      for (const op of methodOps) {
        if (op.value) await store.directory.putDirectoryMethod(id, op.kind, op.value, now);
        else await store.directory.deleteDirectoryMethod(id, op.kind);
      }
    }
    (existing ? report.updated : report.created).push({ username, changes: existing ? changes : ['created', ...changes.filter((c) => c !== 'created')] });
  }

  /** Disables (never deletes) enabled directory users the complete read did not see, marked as done by the sync. */
  async #disableGone(seen: Map<string, string>, report: SyncReport): Promise<void> {
    let after = '';
    for (;;) {
      const batch = await this.#store.directory.fromDirectory(after, 500);
      if (batch.length === 0) return;
      after = batch[batch.length - 1]!.usernameKey;
      for (const user of batch) {
        if (seen.has(user.usernameKey) || user.status === 'disabled') continue;
        report.disabled.push(user.username);
        if (report.dryRun) continue;
        await this.#store.directory.disableGone(user.id, this.#clock.now());
        await this.#store.audit.record({ type: 'directory.user_disabled', outcome: 'info', userId: user.id, details: { reason: 'gone_from_directory' } }, this.#clock.now());
        this.#log.info({ event: 'directory.user_disabled', userId: user.id }, 'user gone from the directory: disabled, sessions and tokens revoked');
      }
    }
  }
}
