/**
 * Synchronises users and groups from the directory into the store: at start, every
 * `directory.syncIntervalMinutes`, and on `oidc-sspr directory sync [--dry-run]`. Users are read in
 * pages (paged search), so memory grows only with the set of usernames seen, never with the
 * entries. Directory users have the password source `onpremises` and no local password; their
 * groups are the directory's; their mobile and office numbers pre-populate the methods, marked as
 * set by the directory (a number the user registered stays theirs). A user gone from the directory
 * is disabled (sessions and tokens revoked), never deleted; only after a complete read, so a sync
 * cut short disables nobody, and a read that finds no users at all disables nobody either.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Store } from '../store/index.ts';
import type { LocalDirectoryUser, LocalMethod, DirectoryMethodKind } from '../store/directory.ts';
import type { UserService } from '../users/service.ts';
import type { Clock } from '../clock.ts';
import { ConfusableUsernameError, DuplicateError } from '../store/users.ts';
import { normaliseDisplayName, normaliseEmail, normaliseGroupName, normaliseUsername, usernameKey, usernameSkeleton } from '../users/names.ts';
import { parsePhone } from '../methods/mobile-phone/register.ts';
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
}

const toE164 = (country: string, value: string | undefined): string | undefined => {
  if (!value) return undefined;
  const parsed = parsePhone(country, value, false);
  return parsed.ok ? parsed.e164 : undefined;
};

export class DirectorySync {
  readonly #client: DirectoryClient;
  readonly #store: Store;
  readonly #users: UserService;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #country: () => string;

  constructor(deps: { client: DirectoryClient; store: Store; users: UserService; clock: Clock; log: Logger; defaultCountry: () => string }) {
    this.#client = deps.client;
    this.#store = deps.store;
    this.#users = deps.users;
    this.#clock = deps.clock;
    this.#log = deps.log;
    this.#country = deps.defaultCountry;
  }

  /** Runs one sync; with dryRun nothing is written and the report says what would change. */
  async run(options: { dryRun?: boolean; onPage?: (entries: number) => Promise<void> | void } = {}): Promise<SyncReport> {
    const dryRun = options.dryRun ?? false;
    const report: SyncReport = { dryRun, created: [], updated: [], disabled: [], unchanged: 0, skipped: [], emptyDirectory: false, groups: 0 };
    const groups = await this.#client.groups();
    report.groups = groups.length;
    const byMember = new Map<string, { name: string; key: string }[]>();
    const byGroupDn = new Map<string, { name: string; key: string }>();
    for (const g of groups) this.#indexGroup(g, byMember, byGroupDn);
    const seen = new Set<string>();
    for await (const page of this.#client.users()) {
      for (const dn of page.skipped) report.skipped.push({ dn, reason: `no ${this.#client.config.attributes.username} attribute` });
      await this.#page(page.entries, { seen, byMember, byGroupDn, report });
      await options.onPage?.(page.entries.length);
    }
    if (seen.size === 0) {
      report.emptyDirectory = true;
      this.#log.warn({ event: 'directory.sync.empty', baseDn: this.#client.config.baseDn }, 'the directory returned no users: nobody is disabled');
    } else {
      await this.#disableGone(seen, report);
    }
    if (!dryRun) {
      await this.#store.audit.record(
        { type: 'directory.sync', outcome: 'success', details: { created: report.created.length, updated: report.updated.length, disabled: report.disabled.length, skipped: report.skipped.length, unchanged: report.unchanged, empty: report.emptyDirectory ? 1 : 0 } },
        this.#clock.now(),
      );
    }
    return report;
  }

  #indexGroup(g: DirectoryGroup, byMember: Map<string, { name: string; key: string }[]>, byGroupDn: Map<string, { name: string; key: string }>): void {
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

  #groupsOf(entry: DirectoryEntry, byMember: Map<string, { name: string; key: string }[]>, byGroupDn: Map<string, { name: string; key: string }>): { name: string; key: string }[] {
    const found = new Map<string, { name: string; key: string }>();
    for (const g of byMember.get(dnKey(entry.dn)) ?? []) found.set(g.key, g);
    for (const dn of entry.memberOf) {
      const g = byGroupDn.get(dnKey(dn));
      if (g) found.set(g.key, g);
    }
    return [...found.values()].sort((a, b) => a.key.localeCompare(b.key));
  }

  async #page(entries: DirectoryEntry[], run: { seen: Set<string>; byMember: Map<string, { name: string; key: string }[]>; byGroupDn: Map<string, { name: string; key: string }>; report: SyncReport }): Promise<void> {
    const { report } = run;
    const valid: { entry: DirectoryEntry; username: string; key: string }[] = [];
    for (const entry of entries) {
      let username: string;
      try {
        username = normaliseUsername(entry.username);
      } catch (error) {
        report.skipped.push({ dn: entry.dn, reason: `invalid username: ${(error as Error).message}` });
        continue;
      }
      const key = usernameKey(username);
      if (run.seen.has(key)) {
        report.skipped.push({ dn: entry.dn, reason: `duplicate username ${username} (the first entry is used)` });
        continue;
      }
      run.seen.add(key);
      valid.push({ entry, username, key });
    }
    const local = await this.#store.directory.byKeys(valid.map((v) => v.key));
    const ids = [...local.values()].map((u) => u.id);
    const [methods, groupKeys] = await Promise.all([this.#store.directory.methodsOf(ids), this.#store.directory.groupKeysOf(ids)]);
    for (const { entry, username, key } of valid) {
      const existing = local.get(key);
      if (existing && existing.directoryDn === null && existing.passwordSource === 'cloud') {
        // Never take over an account created here: an administrator decides (users set-source).
        report.skipped.push({ dn: entry.dn, reason: `a local cloud account ${existing.username} exists` });
        continue;
      }
      await this.#apply(entry, username, existing, methods.get(existing?.id ?? '') ?? [], groupKeys.get(existing?.id ?? '') ?? [], this.#groupsOf(entry, run.byMember, run.byGroupDn), report);
    }
  }

  async #apply(entry: DirectoryEntry, username: string, existing: LocalDirectoryUser | undefined, methods: LocalMethod[], groupKeys: string[], groups: { name: string; key: string }[], report: SyncReport): Promise<void> {
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
    }
    const sameGroups = groupKeys.slice().sort().join('\n') === groups.map((g) => g.key).join('\n');
    if (!sameGroups && (existing || groups.length)) changes.push('groups');
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
          id = (await this.#store.users.create({ id: randomUUID(), username, usernameKey: usernameKey(username), usernameSkeleton: usernameSkeleton(username), displayName, email, emailVerified: false, passwordSource: 'onpremises', passwordHash: null, now })).id;
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
      await this.#store.directory.link(id, { dn: entry.dn, displayName, email, status: existing?.status ?? 'enabled' }, now);
      if (!sameGroups) await this.#store.directory.setGroups(id, groups, now);
      for (const op of methodOps) {
        if (op.value) await this.#store.directory.putDirectoryMethod(id, op.kind, op.value, now);
        else await this.#store.directory.deleteDirectoryMethod(id, op.kind);
      }
    }
    (existing ? report.updated : report.created).push({ username, changes: existing ? changes : ['created', ...changes.filter((c) => c !== 'created')] });
  }

  /** Disables (never deletes) enabled directory users the complete read did not see. */
  async #disableGone(seen: Set<string>, report: SyncReport): Promise<void> {
    let after = '';
    for (;;) {
      const batch = await this.#store.directory.fromDirectory(after, 500);
      if (batch.length === 0) return;
      after = batch[batch.length - 1]!.usernameKey;
      for (const user of batch) {
        if (seen.has(user.usernameKey) || user.status === 'disabled') continue;
        report.disabled.push(user.username);
        if (report.dryRun) continue;
        await this.#users.setStatus(user.username, 'disabled');
        await this.#store.audit.record({ type: 'directory.user_disabled', outcome: 'info', userId: user.id, details: { reason: 'gone_from_directory' } }, this.#clock.now());
        this.#log.info({ event: 'directory.user_disabled', userId: user.id }, 'user gone from the directory: disabled, sessions and tokens revoked');
      }
    }
  }
}
