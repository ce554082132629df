/** What every administrator command works with: options, output, the configuration, the database. */
import type { Knex } from 'knex';
import type { Config } from '../config/schema.ts';
import type { Store, PasswordSource } from '../store/index.ts';
import type { UserService } from '../users/service.ts';
import { systemClock } from '../clock.ts';
import { UsageError } from './errors.ts';

/** Every option the CLI knows; each command accepts `config`, `help` and its own subset. */
export const optionSpec = {
  config: { type: 'string', short: 'c' },
  help: { type: 'boolean', short: 'h' },
  json: { type: 'boolean' },
  name: { type: 'string' },
  email: { type: 'string' },
  source: { type: 'string' },
  'no-password': { type: 'boolean' },
  rollback: { type: 'boolean' },
  yes: { type: 'boolean', short: 'y' },
  limit: { type: 'string' },
  user: { type: 'string' },
  type: { type: 'string' },
  since: { type: 'string' },
  days: { type: 'string' },
  'dry-run': { type: 'boolean' },
} as const;

export type OptionName = keyof typeof optionSpec;

export interface OptionValues {
  config?: string;
  help?: boolean;
  json?: boolean;
  name?: string;
  email?: string;
  source?: string;
  'no-password'?: boolean;
  rollback?: boolean;
  yes?: boolean;
  limit?: string;
  user?: string;
  'dry-run'?: boolean;
  type?: string;
  since?: string;
  days?: string;
}

export interface CommandContext {
  /** Positional arguments after the command words. */
  args: string[];
  values: OptionValues;
  cwd: string;
  /** The configuration file chosen by --config, IDP_CONFIG or the defaults. */
  configFile: string;
  /** Loads and validates the chosen configuration (throws ConfigError). */
  loadConfig(): Promise<Config>;
  /** One line of output on stdout. */
  out(text: string): void;
  /**
   * Resolves once stdout has taken what was written so far: a command printing a long report
   * waits here between pages, so a slow reader holds it up instead of the output piling up in memory.
   */
  drain(): Promise<void>;
  /** The environment `${VAR}` references in the configuration read. */
  env: NodeJS.ProcessEnv;
  /** A new password: asked twice on a terminal, else the first line of stdin. */
  readPassword(): Promise<string>;
}

export interface Command {
  /** The command words, e.g. 'users groups add'. */
  name: string;
  /** Positional arguments; `[NAME]` marks an optional one (only at the end). */
  args: string[];
  options: OptionName[];
  /** How the options are shown in the usage text. */
  synopsis?: string;
  summary: string;
  run(ctx: CommandContext): Promise<void>;
}

export const SOURCES: readonly PasswordSource[] = ['cloud', 'onpremises'];

export function passwordSource(value: string | undefined): PasswordSource {
  if (value === undefined) return 'cloud';
  if ((SOURCES as readonly string[]).includes(value)) return value as PasswordSource;
  throw new UsageError(`password source must be cloud or onpremises, not '${value}'`);
}

export const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/**
 * knex logs with console.log, which would mix into stdout (and --json output). Its warnings repeat
 * errors we report anyway (connection refused, migration lock retries), so they are dropped.
 */
function quietKnex(db: Knex): Knex {
  const logger = db.client.logger as Record<'warn' | 'debug' | 'error' | 'deprecate', (...args: unknown[]) => void>;
  logger.warn = () => {};
  logger.debug = () => {};
  logger.error = (message) => process.stderr.write(`oidc-sspr: database: ${String(message).split('\n')[0]}\n`);
  logger.deprecate = () => {};
  return db;
}

export async function withDatabase<T>(config: Config, fn: (db: Knex) => Promise<T>): Promise<T> {
  const { openDatabase } = await import('../store/db.ts');
  const db = quietKnex(openDatabase(config.database));
  try {
    return await fn(db);
  } finally {
    await db.destroy();
  }
}

/**
 * Applies pending migrations. An up-to-date database is only read (knex's migrate.latest would
 * take the migration lock every time), so commands run side by side don't queue on that lock.
 */
export async function ensureMigrated(db: Knex, schema: string | undefined): Promise<void> {
  const { migrateLatest, DirectoryMigrationSource } = await import('../store/db.ts');
  try {
    const [, pending] = (await db.migrate.list({ migrationSource: new DirectoryMigrationSource(), schemaName: schema })) as [unknown[], unknown[]];
    if (pending.length === 0) return;
  } catch {
    // E.g. the PostgreSQL schema doesn't exist yet: migrateLatest creates it.
  }
  await migrateLatest(db, schema);
}

/** Opens the database (migrated) and runs `fn` with the store; always closes the database. */
export async function withStore<T>(ctx: CommandContext, fn: (store: Store, config: Config) => Promise<T>): Promise<T> {
  const config = await ctx.loadConfig();
  const { createStore } = await import('../store/index.ts');
  return withDatabase(config, async (db) => {
    await ensureMigrated(db, config.database.schema);
    return fn(createStore(db), config);
  });
}

export async function withUsers<T>(ctx: CommandContext, fn: (users: UserService, store: Store, config: Config) => Promise<T>): Promise<T> {
  const [{ UserService }, { createPasswordHasher }] = await Promise.all([import('../users/service.ts'), import('../security/password.ts')]);
  return withStore(ctx, (store, config) => fn(new UserService(store, createPasswordHasher(() => config.passwords.argon2), systemClock), store, config));
}

