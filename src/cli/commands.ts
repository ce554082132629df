/** The administrator commands: each one loads the configuration, opens the database, does one thing. */
import path from 'node:path';
import { systemClock } from '../clock.ts';
import { UsageError } from './errors.ts';
import { auditCommands } from './audit-commands.ts';
import { reportCommands } from './reports.ts';
import { userCommands } from './user-commands.ts';
import { directoryCommands } from './directory-commands.ts';

// The database, argon2 and configuration modules are loaded only by the commands that need them,
// so `help` and usage errors answer at once.
import { optionSpec, withDatabase, withStore, withUsers, iso, type Command } from './context.ts';

export { optionSpec };
export type { Command, CommandContext, OptionName, OptionValues } from './context.ts';

/** Commands that change something are recorded in the audit trail as admin.<command>. */
const AUDITED = /^(users (add|disable|enable|unlock|delete|set-password|set-source|set-office-phone|groups add|groups remove)|keys rotate)$/;

function audited(command: Command): Command {
  if (!AUDITED.test(command.name)) return command;
  return {
    ...command,
    async run(ctx) {
      await command.run(ctx);
      await withStore(ctx, async (store) => {
        const target = command.args[0] === 'USERNAME' ? ctx.args[0] : undefined;
        const user = target ? await store.users.findByUsernameKey(target.normalize('NFKC').trim().toLowerCase()) : undefined;
        await store.audit.record(
          { type: `admin.${command.name.replace(/ /g, '.')}`, outcome: 'success', userId: user?.id ?? null, details: { by: 'cli', ...(target ? { target: target.slice(0, 256) } : {}) } },
          systemClock.now(),
        );
      });
    },
  };
}

const allCommands: Command[] = [
  {
    name: 'config check',
    args: ['[FILE]'],
    options: [],
    summary: 'validate a configuration file (default: the one the other commands use)',
    async run(ctx) {
      const file = ctx.args[0] === undefined ? ctx.configFile : path.resolve(ctx.cwd, ctx.args[0]);
      const { loadConfigFile } = await import('../config/load.ts');
      const config = await loadConfigFile(file, ctx.env);
      if (config.ui.logoFile) {
        const { readLogo } = await import('../web/logo.ts');
        await readLogo(config.ui.logoFile, ctx.cwd);
      }
      ctx.out(`ok: ${file}`);
    },
  },
  {
    name: 'migrate',
    args: [],
    options: ['rollback', 'yes'],
    synopsis: '[--rollback --yes]',
    summary: 'apply pending database migrations; --rollback --yes undoes them all, dropping every table and its data',
    async run(ctx) {
      if (ctx.values.rollback && !ctx.values.yes) throw new UsageError('migrate --rollback drops every table and all data in them: add --yes to confirm');
      const config = await ctx.loadConfig();
      const { migrateLatest, migrateRollbackAll } = await import('../store/db.ts');
      await withDatabase(config, async (db) => {
        if (ctx.values.rollback) {
          const rolled = await migrateRollbackAll(db, config.database.schema);
          ctx.out(rolled.length ? `rolled back: ${rolled.join(', ')}` : 'nothing to roll back');
        } else {
          const applied = await migrateLatest(db, config.database.schema);
          ctx.out(applied.length ? `applied: ${applied.join(', ')}` : 'already up to date');
        }
      });
    },
  },
  ...userCommands(),
  {
    name: 'outbox',
    args: ['[USERNAME]'],
    options: ['limit', 'json'],
    synopsis: '[--limit N] [--json]',
    summary: 'show the newest messages kept in the outbox (delivery transport outbox), optionally for one user',
    async run(ctx) {
      const limit = ctx.values.limit === undefined ? 10 : Number(ctx.values.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new UsageError('--limit must be a whole number from 1 to 1000');
      const messages = await withUsers(ctx, async (users, store) => {
        const name = ctx.args[0];
        const user = name ? await users.require(name) : undefined;
        return store.outbox.latest(user ? { userId: user.id } : {}, limit);
      });
      if (ctx.values.json) return ctx.out(JSON.stringify(messages.map((m) => ({ ...m, createdAt: iso(m.createdAt) })), null, 2));
      if (!messages.length) return ctx.out('(no messages)');
      for (const m of messages) {
        ctx.out(`--- ${iso(m.createdAt)} ${m.channel} to ${m.recipient}${m.subject ? `: ${m.subject}` : ''}`);
        ctx.out(m.body);
      }
    },
  },
  ...auditCommands({ withStore }),
  ...reportCommands({ withStore }),
  ...directoryCommands({ withUsers }),
  {
    name: 'keys rotate',
    args: [],
    options: [],
    summary: 'add a new signing key; the previous one stays published until its tokens have expired',
    async run(ctx) {
      const { rotateSigningKey } = await import('../oidc/keys.ts');
      await withStore(ctx, async (store, config) => {
        const retireAfter = config.oidc.ttl.idToken + 300;
        const { kid, retiring } = await rotateSigningKey(store.keys, config.oidc.signingAlgorithm, systemClock, retireAfter);
        ctx.out(`new signing key: ${kid} (${config.oidc.signingAlgorithm})`);
        const until = new Date(systemClock.now() + retireAfter * 1000).toISOString();
        ctx.out(
          `Restart every instance, one at a time, so they sign with the new key.` +
            (retiring ? ` The previous key stays published until ${until} (id token lifetime + 5 minutes), then retires.` : ''),
        );
      });
    },
  },
];

export const commands: Command[] = allCommands.map(audited);
