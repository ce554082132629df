#!/usr/bin/env node
/**
 * The administrator CLI (`oidc-sspr`): configuration check, migrations, users, signing keys.
 * Exit status: 0 success, 1 operational failure, 2 usage error or invalid configuration.
 * Errors are one line on stderr (`oidc-sspr: …`); results go to stdout.
 */
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import type { ConfigProblem } from './config/load.ts';
import type { Config } from './config/schema.ts';
import { AppError } from './errors.ts';
import { DuplicateError } from './store/users.ts';
import { commands, optionSpec, type Command, type OptionValues } from './cli/commands.ts';
import { CliError, UsageError } from './cli/errors.ts';

const PROGRAM = 'oidc-sspr';

export function usage(): string {
  const lines = commands.map((c) => {
    const head = [c.name, ...c.args, c.synopsis ?? ''].filter(Boolean).join(' ');
    return `  ${head}\n      ${c.summary}`;
  });
  return [
    `usage: ${PROGRAM} [--config FILE] COMMAND [ARGUMENTS] [OPTIONS]`,
    '',
    'commands:',
    ...lines,
    '  help',
    '      show this text (also --help, -h)',
    '',
    'global options:',
    '  -c, --config FILE',
    '      configuration file; default $IDP_CONFIG, else config/idp.yaml, else config/idp.example.yaml',
    '',
    'Passwords are never taken from the command line: on a terminal they are asked for twice',
    'without echo; otherwise the first line of stdin is used.',
    '',
    'exit status: 0 success; 1 failure (unknown or duplicate user, invalid input);',
    '2 usage error or invalid configuration.',
  ].join('\n');
}

/** Makes control characters in a message visible instead of letting them reach the terminal. */
function printable(text: string): string {
  return text.replace(/[\p{Cc}\p{Cf}]/gu, (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`);
}

function parseError(error: unknown): UsageError {
  const e = error as { code?: string; message: string };
  if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const option = /'([^']+)'/.exec(e.message)?.[1] ?? '';
    const hint = /^--?password(=|$)/.test(option) ? ' (passwords are read from stdin or asked for, never taken from the command line)' : '';
    return new UsageError(`unknown option '${option}'${hint}`);
  }
  if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') return new UsageError(e.message.split('\n')[0]!.replace(/\.$/, ''));
  return new UsageError(e.message.split('\n')[0]!);
}

function findCommand(words: string[]): Command {
  let best: Command | undefined;
  for (const command of commands) {
    const parts = command.name.split(' ');
    if (parts.every((part, i) => words[i] === part) && (!best || parts.length > best.name.split(' ').length)) best = command;
  }
  if (best) return best;
  const groups = [...new Set(commands.flatMap((c) => c.name.split(' ').slice(0, -1).map((_w, i, a) => a.slice(0, i + 1).join(' '))))];
  // The longest known group the words start with ('users groups', 'users', ...).
  const group = groups.filter((g) => g.split(' ').every((part, i) => words[i] === part)).sort((a, b) => b.length - a.length)[0];
  if (group) {
    const next = words[group.split(' ').length];
    throw new UsageError(next === undefined ? `missing ${group} command` : `unknown command '${group} ${next}'`);
  }
  throw new UsageError(`unknown command '${words[0]}'`);
}

/** What the CLI uses besides its arguments and output: stdin (for passwords), the environment, a wait for stdout. */
export interface CliInput {
  stdin?: NodeJS.ReadStream | NodeJS.ReadableStream;
  env?: NodeJS.ProcessEnv;
  /** Resolves once stdout has taken what was written (CommandContext.drain); by default at once. */
  drain?: () => Promise<void>;
}

export async function main(argv: string[], out: (text: string) => void, warn: (text: string) => void, input: CliInput = {}): Promise<number> {
  const env = input.env ?? process.env;
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: optionSpec, allowPositionals: true, strict: true, tokens: true });
  } catch (error) {
    throw parseError(error);
  }
  const values = parsed.values as OptionValues;
  const words = parsed.positionals;
  if (values.help || words.length === 0 || (words[0] === 'help' && words.length === 1)) {
    out(usage());
    return 0;
  }

  const command = findCommand(words);
  const given = command.name.split(' ').length;
  const allowed = new Set<string>(['config', 'help', ...command.options]);
  for (const token of parsed.tokens) {
    if (token.kind === 'option' && !allowed.has(token.name)) throw new UsageError(`option '${token.rawName}' does not apply to '${command.name}'`);
  }
  const args = words.slice(given);
  const required = command.args.filter((a) => !a.startsWith('['));
  if (args.length < required.length) throw new UsageError(`missing ${required.slice(args.length).join(' ')} for '${command.name}'`);
  if (args.length > command.args.length) throw new UsageError(`too many arguments for '${command.name}': ${args.slice(command.args.length).join(' ')}`);

  const cwd = process.cwd();
  // Loaded here, not at the top: help and usage errors need neither zod nor yaml.
  const { locateConfig, loadConfigFile } = await import('./config/load.ts');
  const location = locateConfig(values.config, cwd, env);
  let config: Config | undefined;
  await command.run({
    args,
    values,
    cwd,
    configFile: location.file,
    async loadConfig() {
      if (!config) {
        if (location.fromExample) warn(`note: config/idp.yaml not found, using ${location.file}`);
        config = await loadConfigFile(location.file, env);
      }
      return config;
    },
    out,
    drain: input.drain ?? (async () => {}),
    env,
    async readPassword() {
      const { readNewPassword } = await import('./cli/password.ts');
      return readNewPassword({ input: (input.stdin ?? process.stdin) as NodeJS.ReadStream, output: process.stderr });
    },
  });
  return 0;
}

/** The one-line message for an error that ends the command, and the exit status. */
export function describeFailure(error: unknown): { lines: string[]; code: number } {
  if (error instanceof Error && error.name === 'ConfigError') {
    const { file, problems } = error as Error & { file?: string; problems: ConfigProblem[] };
    return {
      lines: [`invalid configuration${file ? ` in ${file}` : ''}:`, ...problems.map((p) => `${p.path || '(file)'}: ${p.message}`)],
      code: 2,
    };
  }
  if (error instanceof UsageError) return { lines: [`${error.message} (see '${PROGRAM} help')`], code: 2 };
  if (error instanceof CliError) return { lines: [error.message], code: error.exitCode };
  if (error instanceof AppError || error instanceof DuplicateError) return { lines: [error.message], code: 1 };
  const e = error as { message?: string; code?: string; errors?: { message?: string }[] };
  // A refused connection to a host with several addresses is an AggregateError with no message.
  const message = e?.message || e?.errors?.[0]?.message || e?.code || String(error);
  return { lines: [`unexpected error: ${message.replace(/\s+/g, ' ').trim()}`], code: 1 };
}

/**
 * Runs one command as the `oidc-sspr` program does: results on `stdout`, errors as one line
 * `oidc-sspr: …` on `stderr`; resolves to the exit status. Tests call it in-process.
 */
export async function run(argv: string[], stdout: (text: string) => void, stderr: (text: string) => void, input: CliInput = {}): Promise<number> {
  const warn = (text: string) => stderr(`${PROGRAM}: ${printable(text)}\n`);
  try {
    return await main(argv, (text) => stdout(`${text}\n`), warn, input);
  } catch (error) {
    const { lines, code } = describeFailure(error);
    const [first, ...rest] = lines;
    warn(first!);
    for (const line of rest) stderr(`${printable(line)}\n`);
    return code;
  }
}

if (import.meta.main) {
  const write = (stream: NodeJS.WriteStream) => (text: string) => void stream.write(text);
  // A pipe's writes are asynchronous: without waiting for 'drain', a long report to a slow reader would pile up in memory.
  const drain = async () => {
    if (process.stdout.writableNeedDrain) await once(process.stdout, 'drain');
  };
  process.exitCode = await run(process.argv.slice(2), write(process.stdout), write(process.stderr), { drain });
}
