/** The `users …` commands: accounts, groups, password source, office phone. */
import type { Store, User } from '../store/index.ts';
import type { UserService } from '../users/service.ts';
import { ConfusableUsernameError, DuplicateError } from '../store/users.ts';
import { InvalidInputError, normaliseDisplayName, normaliseEmail, normaliseGroupName, normaliseUsername } from '../users/names.ts';
import { UsageError } from './errors.ts';
import { systemClock } from '../clock.ts';
import { methodFacts, methodOfKind } from '../methods/ids.ts';
import { notifyMethodChange, notifyPasswordReset } from './notify.ts';
import { withUsers, passwordSource, iso, type Command, type CommandContext, type OptionName } from './context.ts';
import { table } from './format.ts';

/**
 * A user's recovery information as administrators may see it: addresses and numbers yes;
 * security answers and authenticator secrets never.
 */
async function ssprRecord(store: Store, userId: string) {
  const [methods, answers, state] = await Promise.all([store.sspr.methods(userId), store.sspr.answers(userId), store.sspr.state(userId)]);
  return {
    methods: methods.map((m) => ({ method: m.kind, value: methodFacts(methodOfKind(m.kind)).secretValue ? null : m.value, verifiedAt: iso(m.verifiedAt) })),
    securityQuestions: answers.length,
    confirmedAt: iso(state.confirmedAt),
    skips: state.skips,
  };
}

/** What `users show --json` and `users list --json` print: everything but the password hash. */
function userRecord(user: User, groups?: string[]) {
  return {
    id: user.id,
    username: user.username,
    displayName: user.displayName,
    email: user.email,
    emailVerified: user.emailVerified,
    status: user.status,
    passwordSource: user.passwordSource,
    hasPassword: user.passwordHash !== null,
    ...(groups ? { groups } : {}),
    createdAt: iso(user.createdAt),
    updatedAt: iso(user.updatedAt),
    passwordChangedAt: iso(user.passwordChangedAt),
  };
}

async function allUsers(users: UserService): Promise<User[]> {
  const page = 500;
  const all: User[] = [];
  for (let offset = 0; ; offset += page) {
    const batch = await users.list({ limit: page, offset });
    all.push(...batch);
    if (batch.length < page) return all;
  }
}

const username = (ctx: CommandContext) => ctx.args[0]!;

/**
 * A command on one existing account. `prepare` reads and checks the other arguments before the
 * database is opened; `act` does the work and returns the line to print.
 */
function onUser<P = void>(spec: {
  name: string;
  args?: string[];
  options?: OptionName[];
  synopsis?: string;
  summary: string;
  prepare?: (ctx: CommandContext) => P;
  act: (users: UserService, user: User, input: P) => Promise<string>;
}): Command {
  const { prepare, act, ...shown } = spec;
  return {
    ...shown,
    args: spec.args ?? ['USERNAME'],
    options: spec.options ?? [],
    async run(ctx) {
      const input = prepare?.(ctx) as P;
      await withUsers(ctx, async (users) => ctx.out(await act(users, await users.require(username(ctx)), input)));
    },
  };
}

/** `users groups add|remove`: `change` says whether it changed anything, `said` what to print when it did, and when not. */
function groupCommand(
  verb: 'add' | 'remove',
  summary: string,
  change: (users: UserService, name: string, group: string) => Promise<boolean>,
  said: [(name: string, group: string) => string, (name: string, group: string) => string],
): Command {
  return onUser({
    name: `users groups ${verb}`,
    args: ['USERNAME', 'GROUP'],
    summary,
    prepare: (ctx) => normaliseGroupName(ctx.args[1]!).name,
    act: async (users, user, group) => ((await change(users, user.username, group)) ? said[0] : said[1])(user.username, group),
  });
}

export function userCommands(): Command[] {
  return [
  {
    name: 'users add',
    args: ['USERNAME'],
    options: ['name', 'email', 'source', 'no-password'],
    synopsis: '[--name NAME] [--email ADDR] [--source cloud|onpremises] [--no-password]',
    summary: 'create a user; the password is prompted for (or read from stdin) unless --no-password',
    async run(ctx) {
      const { name, email } = ctx.values;
      // Check everything that needs no database before asking for a password.
      normaliseUsername(username(ctx));
      if (name !== undefined && normaliseDisplayName(name) === '') throw new InvalidInputError('display_name', 'must not be empty');
      if (email !== undefined) normaliseEmail(email);
      const source = passwordSource(ctx.values.source);
      await withUsers(ctx, async (users) => {
        const existing = await users.find(username(ctx));
        if (existing) throw new DuplicateError(`user ${existing.username}`);
        const lookalike = await users.lookalike(username(ctx));
        if (lookalike) throw new ConfusableUsernameError(normaliseUsername(username(ctx)), lookalike);
        const password = ctx.values['no-password'] ? undefined : await ctx.readPassword();
        const user = await users.create({ username: username(ctx), displayName: name, email: email || undefined, password, passwordSource: source });
        ctx.out(`created user ${user.username} (${user.id})${password === undefined ? ' without a password' : ''}`);
      });
    },
  },
  {
    name: 'users list',
    args: [],
    options: ['json'],
    synopsis: '[--json]',
    summary: 'list all users',
    async run(ctx) {
      const list = await withUsers(ctx, allUsers);
      if (ctx.values.json) return ctx.out(JSON.stringify(list.map((u) => userRecord(u)), null, 2));
      if (list.length === 0) return ctx.out('no users');
      ctx.out(table(list.map((u) => [u.username, u.status, u.passwordSource, u.displayName, u.email ?? ''])));
    },
  },
  {
    name: 'users show',
    args: ['USERNAME'],
    options: ['json'],
    synopsis: '[--json]',
    summary: 'show one user: status, password source, email, groups, timestamps',
    async run(ctx) {
      const record = await withUsers(ctx, async (users, store) => {
        const user = await users.require(username(ctx));
        return { ...userRecord(user, await users.groupsOf(user.id)), sspr: await ssprRecord(store, user.id) };
      });
      if (ctx.values.json) return ctx.out(JSON.stringify(record, null, 2));
      const rows: [string, string][] = [
        ['username', record.username],
        ['id', record.id],
        ['display name', record.displayName],
        ['email', record.email === null ? '(none)' : `${record.email}${record.emailVerified ? '' : ' (unverified)'}`],
        ['status', record.status],
        ['password source', record.passwordSource],
        ['password', record.hasPassword ? 'set' : 'not set'],
        ['groups', record.groups?.length ? record.groups.join(', ') : '(none)'],
        ['created', record.createdAt!],
        ['updated', record.updatedAt!],
        ['password changed', record.passwordChangedAt ?? 'never'],
        ['recovery methods', record.sspr.methods.map((m) => `${m.method}${m.value ? ` ${m.value}` : ''}`).join(', ') || '(none)'],
        ['security questions', String(record.sspr.securityQuestions)],
        ['methods confirmed', record.sspr.confirmedAt ?? 'never'],
      ];
      ctx.out(table(rows.map(([k, v]) => [`${k}:`, v])));
    },
  },
  onUser({
    name: 'users disable',
    summary: 'block sign-in and end the sessions and tokens of a user',
    act: async (users, user) => {
      await users.setStatus(user.username, 'disabled');
      return `disabled user ${user.username}; their sessions and tokens are revoked`;
    },
  }),
  onUser({
    name: 'users enable',
    summary: 'allow a disabled user to sign in again',
    act: async (users, user) => {
      await users.setStatus(user.username, 'enabled');
      return `enabled user ${user.username}`;
    },
  }),
  onUser({
    name: 'users unlock',
    summary: 'end a sign-in lockout (failed passwords); the password stays as it is',
    act: async (users, user) => {
      await users.unlock(user.username);
      return `unlocked ${user.username}`;
    },
  }),
  onUser({
    name: 'users delete',
    options: ['yes'],
    synopsis: '--yes',
    summary: 'delete a user with their group memberships, sessions and tokens (--yes is required)',
    prepare: (ctx) => {
      if (!ctx.values.yes) throw new UsageError(`refusing to delete user ${username(ctx)} without --yes`);
    },
    act: async (users, user) => {
      await users.delete(user.username);
      return `deleted user ${user.username}`;
    },
  }),
  {
    name: 'users set-password',
    args: ['USERNAME'],
    options: [],
    summary: "set a user's password (prompted for, or read from stdin)",
    async run(ctx) {
      await withUsers(ctx, async (users, store, config) => {
        const user = await users.setPassword((await users.require(username(ctx))).username, await ctx.readPassword());
        ctx.out(`password set for ${user.username}; every session and token of the account ended`);
        await notifyPasswordReset(ctx, store, config, user);
      });
    },
  },
  groupCommand('add', 'add a user to a group (created if needed)', (users, name, group) => users.addToGroup(name, group), [
    (name, group) => `added ${name} to group ${group}`,
    (name, group) => `${name} is already in group ${group}`,
  ]),
  groupCommand('remove', 'remove a user from a group', (users, name, group) => users.removeFromGroup(name, group), [
    (name, group) => `removed ${name} from group ${group}`,
    (name, group) => `${name} was not in group ${group}`,
  ]),
  onUser({
    name: 'users set-source',
    args: ['USERNAME', 'cloud|onpremises'],
    summary: "set where a user's password is managed",
    prepare: (ctx) => passwordSource(ctx.args[1]),
    act: async (users, user, source) => {
      await users.setSource(user.username, source);
      return `password source of ${user.username} is now ${source}`;
    },
  }),
  {
    name: 'users set-office-phone',
    args: ['USERNAME', 'NUMBER'],
    options: [],
    summary: "set a user's office phone (+country number, or a national number in sspr.defaultCountry); 'none' clears it",
    async run(ctx) {
      const number = ctx.args[1]!;
      const { parsePhone } = await import('../methods/mobile-phone/register.ts');
      await withUsers(ctx, async (users, store, config) => {
        const user = await users.require(username(ctx));
        if (number === 'none') {
          const removed = await store.sspr.deleteMethod(user.id, 'office_phone');
          ctx.out(removed ? `office phone of ${user.username} cleared` : `${user.username} had no office phone`);
          if (removed) await notifyMethodChange(ctx, store, config, user, 'officePhone', 'removed');
          return;
        }
        const parsed = parsePhone(config.sspr.defaultCountry, number, false);
        if (!parsed.ok) throw new InvalidInputError('phone', `'${number}' is not a valid phone number (country ${config.sspr.defaultCountry} unless it starts with +)`);
        const previous = await store.sspr.putMethod(user.id, 'office_phone', parsed.e164, systemClock.now());
        ctx.out(`office phone of ${user.username} is now ${parsed.e164}`);
        if (previous !== parsed.e164) await notifyMethodChange(ctx, store, config, user, 'officePhone', previous === undefined ? 'added' : 'changed');
      });
    },
  },
  ];
}
