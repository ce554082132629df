/**
 * Reads the YAML configuration: parse, `${ENV}` interpolation, schema validation.
 * Every problem is reported with the key path it concerns.
 */
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { configSchema, type Config } from './schema.ts';
import { interpolate } from './interpolate.ts';

export interface ConfigProblem {
  /** Dotted key path, e.g. `clients.0.redirectUris.1`; empty for the whole file. */
  path: string;
  message: string;
}

/** A configuration that can't be used; `problems` name the key paths. */
export class ConfigError extends Error {
  readonly problems: ConfigProblem[];
  readonly file: string | undefined;

  constructor(problems: ConfigProblem[], file?: string) {
    const where = file ? `${file}: ` : '';
    super(`${where}invalid configuration\n${problems.map((p) => `  - ${p.path || '(file)'}: ${p.message}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
    this.file = file;
  }
}

/** Validates an already-parsed object against the schema. */
export function parseConfig(raw: unknown, options: { env?: NodeJS.ProcessEnv; file?: string } = {}): Config {
  const { value: interpolated, problems, sources } = interpolate(raw ?? {}, configSchema, options.env ?? process.env);
  if (problems.length) throw new ConfigError(problems, options.file);
  if (typeof interpolated !== 'object' || interpolated === null || Array.isArray(interpolated)) {
    throw new ConfigError([{ path: '', message: 'must be a mapping of keys to values' }], options.file);
  }
  const result = configSchema.safeParse(interpolated);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.flatMap((issue) => {
        const keyPath = issue.path.map(String).join('.');
        if (issue.code === 'unrecognized_keys') {
          // One problem per unknown key, so each path names exactly one key.
          return issue.keys.map((key) => ({ path: [keyPath, key].filter(Boolean).join('.'), message: 'unknown key' }));
        }
        const source = sources.get(keyPath);
        return [{ path: keyPath, message: source ? `${issue.message} (from environment variable ${source})` : issue.message }];
      }),
      options.file,
    );
  }
  return result.data;
}

/** Parses YAML text into a validated configuration. */
export function parseConfigText(text: string, options: { env?: NodeJS.ProcessEnv; file?: string } = {}): Config {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true, merge: false });
  if (doc.errors.length) {
    throw new ConfigError(
      doc.errors.map((e) => ({
        path: '',
        // prettyErrors already appends " at line L, column C:" to the first line; don't say it twice.
        message: `YAML syntax error at line ${e.linePos?.[0]?.line ?? '?'}, column ${e.linePos?.[0]?.col ?? '?'}: ${e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`,
      })),
      options.file,
    );
  }
  return parseConfig(doc.toJS({ maxAliasCount: 50 }), options);
}

/** Reads and validates a YAML configuration file. */
export async function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): Promise<Config> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigError([{ path: '', message: code === 'ENOENT' ? 'file not found' : `cannot be read (${code})` }], file);
  }
  return parseConfigText(text, { env, file });
}

export interface ConfigLocation {
  file: string;
  /** True when the admin's file is missing and the shipped example is used instead. */
  fromExample: boolean;
}

/**
 * Finds the configuration file: `--config` / `IDP_CONFIG` first, else `config/idp.yaml`,
 * else `config/idp.example.yaml` (reported, so the admin knows).
 */
export function locateConfig(explicit: string | undefined, cwd = process.cwd(), env: NodeJS.ProcessEnv = process.env): ConfigLocation {
  const chosen = explicit ?? env.IDP_CONFIG;
  if (chosen) return { file: path.resolve(cwd, chosen), fromExample: false };
  const own = path.resolve(cwd, 'config/idp.yaml');
  if (existsSync(own)) return { file: own, fromExample: false };
  return { file: path.resolve(cwd, 'config/idp.example.yaml'), fromExample: true };
}
