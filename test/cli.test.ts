/**
 * The administrator CLI, run as a real child process (`node src/cli.ts …`) against a fresh
 * database, with passwords on stdin; its effects are checked through the IdP itself.
 */
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { freshDatabase, type TestDatabase } from './helpers/db.ts';
import { runCli, runCliProcess, type CliResult } from './helpers/process.ts';
import { startIdp, testArgon2, type RunningIdp } from './helpers/idp.ts';
import { discover, login, oidc } from './helpers/rp.ts';
import { parseConfig } from '../src/config/load.ts';
import { openDatabase } from '../src/store/db.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const NODE = path.join(ROOT, 'node_modules/.bin/node');
const CLI = path.join(ROOT, 'src/cli.ts');

type Result = CliResult;

/**
 * Runs the CLI in this process; stdin gets `input` (then EOF), or nothing at all. The tests run one
 * at a time: in one process, SQLite's busy wait holds a thread of the pool the lock holder needs.
 */
const cli = runCli;

let dir: string;
let db: TestDatabase;
let configFile: string;
let idp: RunningIdp;
const extraDbs: TestDatabase[] = [];

async function writeConfig(name: string, database: TestDatabase['config'], extra: Record<string, unknown> = {}): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, stringify({ database, logging: { level: 'silent' }, passwords: { argon2: testArgon2 }, ...extra }));
  return file;
}

/** A fresh database of the test's own (dropped after the file) and a configuration file `name` for it. */
async function ownDatabase(name: string): Promise<{ own: TestDatabase; file: string }> {
  const own = await freshDatabase();
  extraDbs.push(own);
  return { own, file: await writeConfig(name, own.config) };
}

/** The CLI against the shared test database. */
const run = (args: string[], input?: string) => cli(['--config', configFile, ...args], { input });

const showJson = async (username: string) => {
  const result = await run(['users', 'show', username, '--json']);
  if (result.code !== 0) throw new Error(`users show ${username} failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as Record<string, unknown> & { id: string; groups: string[] };
};

const signIn = (username: string, password: string) => idp.idp.parts.users.signIn(username, password);
/** The user as the IdP sees it (undefined when absent). */
const stored = (username: string) => idp.idp.parts.users.find(username);
const groupsOf = async (username: string) => idp.idp.parts.users.groupsOf((await stored(username))!.id);

/** Exactly one line on stderr, prefixed with the program name. */
const oneErrorLine = (r: Result) => /^oidc-sspr: [^\n]+\n$/.test(r.stderr);

test.before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'oidc-sspr-cli-'));
  db = await freshDatabase();
  configFile = await writeConfig('idp.yaml', db.config);
  // The IdP shares the database: what the CLI does must show in sign-ins and tokens.
  idp = await startIdp({ db });
});

test.after.always(async () => {
  await idp?.close();
  await db?.cleanup();
  for (const extra of extraDbs) await extra.cleanup();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test.serial('help, --help and no arguments list every command', async (t) => {
  const expected = [
    'config check',
    'migrate',
    'users add',
    'users list',
    'users show',
    'users disable',
    'users enable',
    'users delete',
    'users set-password',
    'users groups add',
    'users groups remove',
    'users set-source',
    'keys rotate',
    '--config',
  ];
  for (const args of [['help'], ['--help'], []]) {
    const r = await cli(args);
    t.is(r.code, 0, args.join(' '));
    t.is(r.stderr, '');
    for (const command of expected) t.true(r.stdout.includes(command), `${args.join(' ') || '(none)'} mentions ${command}`);
  }
});

test.serial('as a process of its own: the exit status, stdout and the one stderr line are the same as in-process', async (t) => {
  for (const args of [['users', 'frob', 'x'], ['--config', configFile, 'users', 'show', 'nobody-here'], ['--config', configFile, 'users', 'list']]) {
    const [own, inProcess] = [await runCliProcess(args), await runCli(args)];
    t.deepEqual(own, inProcess, args.join(' '));
  }
  t.is((await runCliProcess(['users', 'frob', 'x'])).code, 2);
});

test.serial('usage errors exit 2 with one line on stderr', async (t) => {
  const cases: [string[], RegExp][] = [
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['users', 'frob', 'x'], /unknown command 'users frob'/],
    [['users'], /missing users command/],
    [['users', 'show'], /missing USERNAME/],
    [['users', 'groups', 'add', 'someone'], /missing GROUP/],
    [['users', 'list', '--name', 'x'], /--name/],
    [['users', 'delete', 'a', 'b'], /too many arguments/],
    [['users', 'list', '--bogus'], /unknown option '--bogus'/],
  ];
  for (const [args, message] of cases) {
    const r = await run(args);
    t.is(r.code, 2, args.join(' '));
    t.regex(r.stderr, message, args.join(' '));
    t.true(oneErrorLine(r), r.stderr);
    t.is(r.stdout, '');
  }
});

test.serial('a password on the command line is rejected as an unknown option', async (t) => {
  for (const args of [['--password', 'secret password 1'], ['--password=secret password 1']]) {
    const r = await run(['users', 'add', 'mallory', ...args], 'stdin password 1\n');
    t.is(r.code, 2);
    t.regex(r.stderr, /unknown option '--password'/);
    t.true(oneErrorLine(r), r.stderr);
  }
  t.is(await stored('mallory'), undefined, 'no user was created');
});

test.serial('config check: ok for a valid file, key paths for an invalid one', async (t) => {
  const good = await cli(['config', 'check', configFile]);
  t.is(good.code, 0, good.stderr);
  t.is(good.stdout, `ok: ${configFile}\n`);

  const viaEnv = await cli(['config', 'check'], { env: { IDP_CONFIG: configFile } });
  t.is(viaEnv.code, 0, viaEnv.stderr);
  t.is(viaEnv.stdout, `ok: ${configFile}\n`);

  const badFile = path.join(dir, 'bad.yaml');
  await writeFile(badFile, stringify({ server: { port: 70000 }, database: { client: 'sqlite', bogus: 1 } }));
  const bad = await cli(['config', 'check', badFile]);
  t.is(bad.code, 2);
  t.is(bad.stdout, '');
  t.regex(bad.stderr, /^server\.port: .+$/m);
  t.regex(bad.stderr, /^database\.bogus: unknown key$/m);
  t.false(/\n\s+at /.test(bad.stderr), 'no stack trace');

  // Every command refuses to run on an invalid configuration.
  const list = await cli(['--config', badFile, 'users', 'list']);
  t.is(list.code, 2);
  t.regex(list.stderr, /^server\.port: /m);

  const missing = await cli(['config', 'check', path.join(dir, 'nope.yaml')]);
  t.is(missing.code, 2);
  t.regex(missing.stderr, /file not found/);

  const syntax = path.join(dir, 'syntax.yaml');
  await writeFile(syntax, 'server:\n  port: [1\n');
  const broken = await cli(['config', 'check', syntax]);
  t.is(broken.code, 2);
  t.regex(broken.stderr, /YAML syntax error/);
});

test.serial('migrate applies, reports up to date, and rolls back only with --yes', async (t) => {
  const { own, file } = await ownDatabase('migrate.yaml');
  const hasUsersTable = async () => {
    const config = parseConfig({ database: own.config });
    const knex = openDatabase(config.database);
    try {
      return config.database.schema ? await knex.schema.withSchema(config.database.schema).hasTable('users') : await knex.schema.hasTable('users');
    } finally {
      await knex.destroy();
    }
  };

  const first = await cli(['--config', file, 'migrate']);
  t.is(first.code, 0, first.stderr);
  t.regex(first.stdout, /^applied: .*_initial\.ts/);
  t.true(await hasUsersTable());

  const again = await cli(['--config', file, 'migrate']);
  t.is(again.code, 0, again.stderr);
  t.is(again.stdout, 'already up to date\n');

  const unconfirmed = await cli(['--config', file, 'migrate', '--rollback']);
  t.is(unconfirmed.code, 2);
  t.regex(unconfirmed.stderr, /--yes/);
  t.true(await hasUsersTable(), 'nothing rolled back without --yes');

  const rolled = await cli(['--config', file, 'migrate', '--rollback', '--yes']);
  t.is(rolled.code, 0, rolled.stderr);
  t.regex(rolled.stdout, /^rolled back: .*_initial\.ts/);
  t.false(await hasUsersTable());

  const reapplied = await cli(['--config', file, 'migrate']);
  t.regex(reapplied.stdout, /^applied: /);
});

test.serial('users add refuses mixed-script names and names that look like an existing user, before asking for a password', async (t) => {
  const mixed = await run(['users', 'add', 'p\u0430ypal']); // Cyrillic а
  t.is(mixed.code, 1);
  t.regex(mixed.stderr, /username mixes scripts \(Latin, Cyrillic\)/);
  t.is(await idp.idp.parts.users.find('p\u0430ypal'), undefined);

  t.is((await run(['users', 'add', 'paypal', '--no-password'])).code, 0);
  for (const lookalike of ['PayPaI', 'paypa1']) {
    const refused = await run(['users', 'add', lookalike], 'never read password\n');
    t.is(refused.code, 1, lookalike);
    t.regex(refused.stderr, new RegExp(`username ${lookalike} can be mistaken for the existing user paypal`));
    t.is(await idp.idp.parts.users.find(lookalike), undefined);
  }
  // Full-width letters are NFKC-normalised to the name they spell: that one is just taken.
  const wide = await run(['users', 'add', '\uff50\uff41\uff59\uff50\uff41\uff4c', '--no-password']);
  t.is(wide.code, 1);
  t.regex(wide.stderr, /user paypal already exists/);
  // One writing system mixing scripts (Japanese: Han + Hiragana + Latin) is fine, and so is a name that only looks different.
  t.is((await run(['users', 'add', '山田たろうT', '--no-password'])).code, 0);
  t.is((await run(['users', 'add', 'paypals', '--no-password'])).code, 0);
});

test.serial('users add, show and list; lookups ignore case; the hash is never shown', async (t) => {
  const addedFrom = Date.now();
  const add = await run(['users', 'add', 'Alice', '--name', 'Alice Example', '--email', 'alice@Example.ORG'], 'alice password 1\n');
  t.is(add.code, 0, add.stderr);
  t.regex(add.stdout, /^created user Alice \([0-9a-f-]{36}\)\n$/);

  const text = await run(['users', 'show', 'ALICE']);
  t.is(text.code, 0, text.stderr);
  t.regex(text.stdout, /^username:\s+Alice$/m);
  t.regex(text.stdout, /^display name:\s+Alice Example$/m);
  t.regex(text.stdout, /^email:\s+alice@example\.org/m);
  t.regex(text.stdout, /^status:\s+enabled$/m);
  t.regex(text.stdout, /^password source:\s+cloud$/m);
  t.regex(text.stdout, /^groups:\s+\(none\)$/m);
  t.regex(text.stdout, /^created:\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/m);
  t.regex(text.stdout, /^password changed:\s+\d{4}-\d\d-\d\dT/m);

  const json = await run(['users', 'show', 'aLiCe', '--json']);
  t.is(json.code, 0, json.stderr);
  t.false(json.stdout.includes('$argon2'), 'no password hash');
  const user = JSON.parse(json.stdout) as Record<string, unknown>;
  const stored = await idp.idp.parts.users.find('alice');
  t.like(user, {
    id: stored!.id,
    username: 'Alice',
    displayName: 'Alice Example',
    email: 'alice@example.org',
    status: 'enabled',
    passwordSource: 'cloud',
    hasPassword: true,
    groups: [],
  });
  t.false(Object.keys(user).some((k) => /hash/i.test(k)));
  // Created while `users add` ran, however long a loaded machine took for it.
  t.true(Date.parse(user.createdAt as string) >= addedFrom && Date.parse(user.createdAt as string) <= Date.now(), String(user.createdAt));
  t.is(user.passwordChangedAt, user.createdAt);

  const list = await run(['users', 'list']);
  t.is(list.code, 0, list.stderr);
  t.regex(list.stdout, /^Alice\s+enabled\s+cloud\s+Alice Example\s+alice@example\.org$/m);

  const listJson = await run(['users', 'list', '--json']);
  t.is(listJson.code, 0, listJson.stderr);
  t.false(listJson.stdout.includes('$argon2'));
  const all = JSON.parse(listJson.stdout) as { id: string; username: string }[];
  t.is(all.find((u) => u.username === 'Alice')?.id, stored!.id);

  const unknown = await run(['users', 'show', 'nobody']);
  t.is(unknown.code, 1);
  t.is(unknown.stderr, 'oidc-sspr: no user nobody\n');
});

test.serial('a relying party signs in a user created with the CLI', async (t) => {
  const add = await run(['users', 'add', 'Dave', '--email', 'dave@example.org'], 'dave password 123\n');
  t.is(add.code, 0, add.stderr);
  const { id } = await showJson('dave');

  const rp = await discover({ issuer: idp.issuer, clientId: 'confidential-app', clientSecret: 'confidential-app-secret-0123456789' });
  const { tokens } = await login(rp, 'DAVE', 'dave password 123');
  const claims = tokens.claims()!;
  t.is(claims.sub, id);
  const info = await oidc.fetchUserInfo(rp, tokens.access_token, claims.sub);
  t.is(info.preferred_username, 'Dave');
  t.is(info.email, 'dave@example.org');

  await t.throwsAsync(login(rp, 'dave', 'dave password 124'), { message: /did not return to the client/ });
});

test.serial('adding an existing username, in any case, fails with exit 1', async (t) => {
  t.is((await run(['users', 'add', 'Erin', '--no-password'])).code, 0);
  const before = await stored('erin');
  const dup = await run(['users', 'add', 'ERIN'], 'erin password 1\n');
  t.is(dup.code, 1);
  t.is(dup.stderr, 'oidc-sspr: user Erin already exists\n');
  const after = await stored('erin');
  t.is(after!.id, before!.id);
  t.is(after!.passwordHash, null, 'the existing user was not changed');
});

test.serial('bad usernames and emails are refused with a clear message', async (t) => {
  for (const name of ['two words', 'bell\u0007name', 'tab\tname', '']) {
    const r = await run(['users', 'add', name], 'some password 1\n');
    t.is(r.code, 1, JSON.stringify(name));
    t.true(oneErrorLine(r), r.stderr);
    t.regex(r.stderr, /username must be .*no spaces or control characters/);
    t.false(/\p{Cc}/u.test(r.stderr.slice(0, -1)), 'no control characters reach the terminal');
  }
  const email = await run(['users', 'add', 'oscar', '--email', 'not-an-address'], 'oscar password 1\n');
  t.is(email.code, 1);
  t.regex(email.stderr, /email is not a valid email address/);

  const all = JSON.parse((await run(['users', 'list', '--json'])).stdout) as { username: string }[];
  t.false(all.some((u) => /two|bell|tab|oscar/.test(u.username)));
});

test.serial('the password is the first line of stdin, exactly', async (t) => {
  t.is((await run(['users', 'add', 'frank'], '  spaced password  \nsecond line\n')).code, 0);
  t.true((await signIn('frank', '  spaced password  ')).ok);
  t.false((await signIn('frank', 'spaced password')).ok, 'spaces are kept');
  t.false((await signIn('frank', 'second line')).ok);

  t.is((await run(['users', 'add', 'gina'], 'no newline at the end')).code, 0);
  t.true((await signIn('gina', 'no newline at the end')).ok);

  t.is((await run(['users', 'add', 'gino'], 'crlf password\r\n')).code, 0);
  t.true((await signIn('gino', 'crlf password')).ok);
});

test.serial('an empty or too short password is refused and nothing is created', async (t) => {
  for (const [input, message] of [['', /empty password/], ['\n', /empty password/], ['short\n', /password must be 8/]] as const) {
    const r = await run(['users', 'add', 'henry'], input);
    t.is(r.code, 1, JSON.stringify(input));
    t.regex(r.stderr, message);
    t.true(oneErrorLine(r), r.stderr);
  }
  t.is(await stored('henry'), undefined);
});

test.serial('--no-password creates a user who can sign in once set-password was run', async (t) => {
  const add = await run(['users', 'add', 'hank', '--no-password'], 'not read\n');
  t.is(add.code, 0, add.stderr);
  t.regex(add.stdout, /without a password/);
  t.like(await stored('hank'), { passwordHash: null, passwordChangedAt: null });
  t.like(await signIn('hank', 'not read'), { ok: false, reason: 'no_password' });

  const set = await run(['users', 'set-password', 'HANK'], 'hank password 1\n');
  t.is(set.code, 0, set.stderr);
  t.is(set.stdout, 'password set for hank; every session and token of the account ended\nhank has no email address: not notified\n');
  t.true((await signIn('hank', 'hank password 1')).ok);
  const user = await showJson('hank');
  t.true(user.hasPassword as boolean);
  t.regex(user.passwordChangedAt as string, /^\d{4}-/);
});

test.serial('set-password replaces the password', async (t) => {
  t.is((await run(['users', 'add', 'ivy'], 'first password 1\n')).code, 0);
  const set = await run(['users', 'set-password', 'ivy'], 'second password 2\n');
  t.is(set.code, 0, set.stderr);
  t.like(await signIn('ivy', 'first password 1'), { ok: false, reason: 'wrong_password' });
  t.true((await signIn('ivy', 'second password 2')).ok);

  const tooShort = await run(['users', 'set-password', 'ivy'], 'short\n');
  t.is(tooShort.code, 1);
  t.true((await signIn('ivy', 'second password 2')).ok, 'a refused password changes nothing');

  const unknown = await run(['users', 'set-password', 'nobody'], 'whatever password\n');
  t.is(unknown.code, 1);
  t.regex(unknown.stderr, /no user nobody/);
});

test.serial('disable blocks sign-in and revokes tokens; enable restores sign-in', async (t) => {
  t.is((await run(['users', 'add', 'judy'], 'judy password 1\n')).code, 0);
  const rp = await discover({ issuer: idp.issuer, clientId: 'confidential-app', clientSecret: 'confidential-app-secret-0123456789' });
  const { tokens } = await login(rp, 'judy', 'judy password 1');
  t.true((await oidc.tokenIntrospection(rp, tokens.access_token)).active);

  const disable = await run(['users', 'disable', 'JUDY']);
  t.is(disable.code, 0, disable.stderr);
  t.regex(disable.stdout, /^disabled user judy/);
  t.is((await stored('judy'))!.status, 'disabled');
  t.like(await signIn('judy', 'judy password 1'), { ok: false, reason: 'disabled' });
  t.false((await oidc.tokenIntrospection(rp, tokens.access_token)).active, 'tokens issued before are revoked');

  const enable = await run(['users', 'enable', 'judy']);
  t.is(enable.code, 0, enable.stderr);
  t.is((await stored('judy'))!.status, 'enabled');
  t.true((await signIn('judy', 'judy password 1')).ok);

  t.is((await run(['users', 'disable', 'nobody'])).code, 1);
  t.is((await run(['users', 'enable', 'nobody'])).code, 1);
});

test.serial('groups add and remove are reflected in show', async (t) => {
  t.is((await run(['users', 'add', 'kim', '--no-password'])).code, 0);
  const add = await run(['users', 'groups', 'add', 'kim', 'Staff']);
  t.is(add.code, 0, add.stderr);
  t.is(add.stdout, 'added kim to group Staff\n');
  const again = await run(['users', 'groups', 'add', 'KIM', 'staff']);
  t.is(again.code, 0, again.stderr);
  t.regex(again.stdout, /already in group/);
  t.is((await run(['users', 'groups', 'add', 'kim', 'Admins'])).code, 0);
  t.deepEqual((await showJson('kim')).groups, ['Admins', 'Staff']);
  t.regex((await run(['users', 'show', 'kim'])).stdout, /^groups:\s+Admins, Staff$/m);

  const remove = await run(['users', 'groups', 'remove', 'kim', 'STAFF']);
  t.is(remove.code, 0, remove.stderr);
  t.regex(remove.stdout, /^removed kim from group/);
  t.deepEqual((await showJson('kim')).groups, ['Admins']);
  const removeAgain = await run(['users', 'groups', 'remove', 'kim', 'Staff']);
  t.is(removeAgain.code, 0);
  t.regex(removeAgain.stdout, /was not in group/);

  t.is((await run(['users', 'groups', 'add', 'nobody', 'Staff'])).code, 1);
});

test.serial('set-source switches where the password is managed', async (t) => {
  t.is((await run(['users', 'add', 'leo', '--source', 'onpremises', '--no-password'])).code, 0);
  t.is((await stored('leo'))!.passwordSource, 'onpremises');
  const set = await run(['users', 'set-source', 'leo', 'cloud']);
  t.is(set.code, 0, set.stderr);
  t.is((await stored('leo'))!.passwordSource, 'cloud');
  t.is((await run(['users', 'set-source', 'leo', 'onpremises'])).code, 0);
  t.is((await stored('leo'))!.passwordSource, 'onpremises');

  const bogus = await run(['users', 'set-source', 'leo', 'bogus']);
  t.is(bogus.code, 2);
  t.regex(bogus.stderr, /cloud or onpremises/);
  t.is((await stored('leo'))!.passwordSource, 'onpremises');
  t.is((await run(['users', 'add', 'leon', '--source', 'bogus', '--no-password'])).code, 2);
  t.is((await run(['users', 'set-source', 'nobody', 'cloud'])).code, 1);
});

test.serial('delete requires --yes', async (t) => {
  t.is((await run(['users', 'add', 'mia', '--no-password'])).code, 0);
  const refused = await run(['users', 'delete', 'mia']);
  t.is(refused.code, 2);
  t.regex(refused.stderr, /--yes/);
  t.truthy(await stored('mia'), 'still there');

  const deleted = await run(['users', 'delete', 'MIA', '--yes']);
  t.is(deleted.code, 0, deleted.stderr);
  t.is(deleted.stdout, 'deleted user mia\n');
  t.is(await stored('mia'), undefined);
  const again = await run(['users', 'delete', 'mia', '--yes']);
  t.is(again.code, 1);
  t.regex(again.stderr, /no user mia/);
});

test.serial('keys rotate: the IdP publishes the old and the new key and signs with the new one', async (t) => {
  const { own, file } = await ownDatabase('keys.yaml');
  const kids = async (running: RunningIdp) => {
    const rp = await discover({ issuer: running.issuer, clientId: 'confidential-app', clientSecret: 'confidential-app-secret-0123456789' });
    const jwks = (await (await fetch(rp.serverMetadata().jwks_uri!)).json()) as { keys: { kid: string }[] };
    return { rp, kids: jwks.keys.map((k) => k.kid) };
  };

  const first = await startIdp({ db: own });
  const { kids: before } = await kids(first);
  await first.close();
  t.is(before.length, 1);

  const rotatedFrom = Date.now();
  const rotate = await cli(['--config', file, 'keys', 'rotate']);
  const rotatedUntil = Date.now();
  t.is(rotate.code, 0, rotate.stderr);
  const kid = /^new signing key: (\S+) \(RS256\)$/m.exec(rotate.stdout)?.[1];
  t.truthy(kid, rotate.stdout);
  t.regex(rotate.stdout, /restart every instance/i);
  t.not(kid, before[0]);

  const second = await startIdp({ db: own });
  try {
    const { rp, kids: after } = await kids(second);
    t.deepEqual([...after].sort(), [before[0]!, kid!].sort());

    // The old key retires after the id token lifetime (3600 s by default) plus 5 minutes.
    const old = await second.idp.parts.store.db('keystore').where({ id: before[0] }).first<{ retire_at: string | number }>('retire_at');
    const rotatedAt = Number(old!.retire_at) - 3900_000;
    t.true(rotatedAt >= rotatedFrom && rotatedAt <= rotatedUntil, `retire_at ${old!.retire_at}`);

    await second.idp.parts.users.create({ username: 'keyuser', password: 'key user password' });
    const { tokens } = await login(rp, 'keyuser', 'key user password');
    const header = JSON.parse(Buffer.from(tokens.id_token!.split('.')[0]!, 'base64url').toString()) as { kid: string };
    t.is(header.kid, kid!, 'the id token is signed with the new key');
  } finally {
    await second.close();
  }
});

test.serial('an unexpected failure is one line on stderr and exit 1', async (t) => {
  const file = await writeConfig('unreachable.yaml', { client: 'postgres', url: 'postgres://postgres@127.0.0.1:1/postgres' });
  const r = await cli(['--config', file, 'users', 'list', '--json']);
  t.is(r.code, 1);
  t.is(r.stdout, '');
  t.true(oneErrorLine(r), r.stderr);
  t.regex(r.stderr, /ECONNREFUSED/);
});

/** A pseudo-terminal via python3's pty module, to drive the hidden prompts. */
const PTY_DRIVER = `
import os, pty, sys, time, select
answers = sys.argv[1].split('|')
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
out = b''
def pump(until=None, timeout=120):  # a bound against a hang: a loaded machine starts the CLI slowly
    global out
    end = time.time() + timeout
    while time.time() < end and (until is None or until not in out):
        r, _, _ = select.select([fd], [], [], 0.1)
        if not r:
            continue
        try:
            data = os.read(fd, 4096)
        except OSError:
            return
        if not data:
            return
        out += data
for answer, prompt in zip(answers, [b'New password: ', b'Repeat password: ']):
    pump(prompt)
    time.sleep(0.1)
    os.write(fd, answer.encode() + b'\\r')
pump()
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors='replace'))
sys.exit(os.waitstatus_to_exitcode(status))
`;
const hasPty = spawnSync('python3', ['-c', 'import pty'], { stdio: 'ignore' }).status === 0;

(hasPty ? test : test.skip)('on a terminal the password is asked twice without echo', async (t) => {
  const driver = path.join(dir, 'pty_driver.py'); // not pty.py: that would shadow the module
  await writeFile(driver, PTY_DRIVER);
  const viaPty = (username: string, answers: string) =>
    new Promise<Result>((resolve) => {
      const child = spawn('python3', [driver, answers, NODE, CLI, '--config', configFile, 'users', 'add', username], { cwd: ROOT });
      let stdout = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.on('close', (code) => resolve({ code, stdout, stderr: '' }));
    });

  const ok = await viaPty('nina', 'nina tty password|nina tty password');
  t.is(ok.code, 0, ok.stdout);
  t.regex(ok.stdout, /New password: /);
  t.regex(ok.stdout, /Repeat password: /);
  t.regex(ok.stdout, /created user nina/);
  t.false(ok.stdout.includes('nina tty password'), 'the password is not echoed');
  t.true((await signIn('nina', 'nina tty password')).ok);

  const mismatch = await viaPty('nora', 'nora tty password|nora tty passwort');
  t.is(mismatch.code, 1, mismatch.stdout);
  t.regex(mismatch.stdout, /passwords do not match/);
  t.is(await stored('nora'), undefined);
});

test.serial('users set-office-phone stores E.164, refuses bad numbers, clears with none; show lists recovery methods', async (t) => {
  t.is((await run(['users', 'add', 'olga', '--no-password'])).code, 0);
  const set = await run(['users', 'set-office-phone', 'olga', '020 123 4567']);
  t.is(set.code, 0, set.stderr);
  t.regex(set.stdout, /\+31201234567/);
  const shown = (await showJson('olga')) as unknown as { sspr: { methods: { method: string; value: string | null }[]; securityQuestions: number } };
  t.deepEqual(shown.sspr.methods.map((m) => [m.method, m.value]), [['office_phone', '+31201234567']]);
  t.is(shown.sspr.securityQuestions, 0);
  const bad = await run(['users', 'set-office-phone', 'olga', '12']);
  t.is(bad.code, 1);
  t.true(oneErrorLine(bad));
  const cleared = await run(['users', 'set-office-phone', 'olga', 'none']);
  t.is(cleared.code, 0);
  t.deepEqual(((await showJson('olga')) as unknown as { sspr: { methods: unknown[] } }).sspr.methods, []);
});

test.serial('users set-office-phone tells the user by email when the number is added, changed or cleared', async (t) => {
  t.is((await run(['users', 'add', 'oskar', '--no-password', '--email', 'oskar@corp.example'])).code, 0);
  const user = (await stored('oskar'))!;
  const mails = async () => (await idp.idp.parts.store.outbox.latest({ userId: user.id }, 100)).reverse();

  const added = await run(['users', 'set-office-phone', 'oskar', '020 123 4567']);
  t.is(added.code, 0, added.stderr);
  t.regex(added.stdout, /notified oskar at o•+@corp\.example/);
  const changed = await run(['users', 'set-office-phone', 'oskar', '+31 30 123 4567']);
  t.is(changed.code, 0, changed.stderr);
  const same = await run(['users', 'set-office-phone', 'oskar', '030 123 4567']);
  t.is(same.code, 0, same.stderr);
  t.notRegex(same.stdout, /notified/, 'the same number again changes nothing');
  const cleared = await run(['users', 'set-office-phone', 'oskar', 'none']);
  t.is(cleared.code, 0, cleared.stderr);

  const sent = await mails();
  t.deepEqual(
    sent.map((m) => [m.recipient, /recovery information changed/.test(m.subject ?? '')]),
    [
      ['oskar@corp.example', true],
      ['oskar@corp.example', true],
      ['oskar@corp.example', true],
    ],
  );
  t.regex(sent[0]!.body, /was added to your account: Office phone/);
  t.regex(sent[1]!.body, /was changed: Office phone/);
  t.regex(sent[2]!.body, /was removed from your account: Office phone/);
  t.false(sent.some((m) => /123 ?4567|1234567/.test(m.body)), 'the number itself is not mailed');

  // A user without an email address: the change is made, and the admin is told nobody was notified.
  t.is((await run(['users', 'add', 'oona', '--no-password'])).code, 0);
  const unnotified = await run(['users', 'set-office-phone', 'oona', '020 123 4567']);
  t.is(unnotified.code, 0, unnotified.stderr);
  t.regex(unnotified.stdout, /oona has no email address: not notified/);
});

test.serial('outbox prints the messages kept for a user', async (t) => {
  t.is((await run(['users', 'add', 'otis', '--no-password'])).code, 0);
  const user = await stored('otis');
  await idp.idp.parts.store.outbox.add({ channel: 'email', recipient: 'otis@example.net', subject: 'Your code', body: 'code 12345678', userId: user!.id, createdAt: Date.now() });
  const out = await run(['outbox', 'otis']);
  t.is(out.code, 0, out.stderr);
  t.regex(out.stdout, /email to otis@example\.net: Your code/);
  t.regex(out.stdout, /code 12345678/);
  const json = JSON.parse((await run(['outbox', 'otis', '--json'])).stdout) as { recipient: string }[];
  t.is(json[0]!.recipient, 'otis@example.net');
  t.is((await run(['outbox', '--limit', 'zero'])).code, 2);
  t.is((await run(['outbox', 'nobody-here'])).code, 1);
});

test.serial('users unlock ends a lockout; administrator actions are in the audit trail', async (t) => {
  t.is((await run(['users', 'add', 'ulla'], 'ulla password one\n')).code, 0);
  const user = (await stored('ulla'))!;
  await idp.idp.parts.store.db('users').where({ id: user.id }).update({ locked_until: Date.now() + 3_600_000, failed_signins: 0 });
  t.false((await signIn('ulla', 'ulla password one')).ok, 'locked');
  const unlocked = await run(['users', 'unlock', 'ULLA']);
  t.is(unlocked.code, 0, unlocked.stderr);
  t.true((await signIn('ulla', 'ulla password one')).ok, 'unlocked');
  const events = await idp.idp.parts.store.audit.list({ userId: user.id });
  t.deepEqual(
    events.filter((e) => e.type.startsWith('admin.')).map((e) => [e.type, e.details?.by]),
    [
      ['admin.users.add', 'cli'],
      ['admin.users.unlock', 'cli'],
    ],
  );
  t.is((await run(['users', 'unlock', 'nobody-x'])).code, 1);
});
