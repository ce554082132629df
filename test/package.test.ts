/**
 * The package as npm would install it: `npm pack` (its prepack runs the build), the tarball
 * unpacked as node_modules/oidc-sspr of a small app whose other node_modules are the declared
 * dependencies only (symlinked to the project's), then used the way the README says: imported
 * as 'oidc-sspr' from plain JavaScript, its types from TypeScript, and its bin run.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { NODE, ROOT } from './helpers/process.ts';
import { openDatabase, migrateLatest } from '../src/store/db.ts';

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(command: string, args: string[], cwd: string, input?: string): Promise<Result> {
  const child = promisify(execFile)(command, args, { cwd, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, IDP_CONFIG: '' } });
  if (input !== undefined) child.child.stdin?.end(input);
  try {
    const { stdout, stderr } = await child;
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(error) };
  }
}

const START = `
import http from 'node:http';
import { createIdp, parseConfig, viewsDir, migrationsDir } from 'oidc-sspr';

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = 'http://127.0.0.1:' + server.address().port;
const config = parseConfig({
  server: { issuer },
  database: { filename: './data/idp.sqlite' },
  logging: { level: 'silent' },
  passwords: { argon2: { memoryCost: 7168, timeCost: 1, parallelism: 1 } },
});
const idp = await createIdp(config);
server.on('request', idp.app.callback());
const get = (p) => fetch(issuer + p, { headers: { Accept: 'text/html' } });
const discovery = await (await get('/.well-known/openid-configuration')).json();
const jwks = await (await get('/jwks')).json();
const reset = await get('/reset');
const css = await get('/assets/site.css');
const captcha = await get('/assets/altcha-widget.js');
console.log(JSON.stringify({
  module: import.meta.resolve('oidc-sspr'),
  viewsDir,
  migrationsDir,
  issuer: discovery.issuer,
  keys: jwks.keys.length,
  reset: [reset.status, (await reset.text()).includes('name="username"')],
  css: css.status,
  captcha: captcha.status,
}));
await idp.close();
server.close();
`;

const CONSUMER = `
import { createIdp, parseConfig, type Idp } from 'oidc-sspr';
export async function start(): Promise<Idp> {
  const idp = await createIdp(parseConfig({}));
  const prefix: string = idp.parts.basePath;
  // @ts-expect-error the types are the real ones: basePath is a string
  const wrong: number = idp.parts.basePath;
  void prefix;
  void wrong;
  return idp;
}
`;

test('npm pack → installed as node_modules/oidc-sspr: import, createIdp on SQLite, discovery, types, the bin', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'oidc-sspr-pack-'));
  try {
    const packed = await run('npm', ['pack', '--pack-destination', dir, '--json', '--loglevel', 'error'], ROOT);
    t.is(packed.code, 0, packed.stderr);
    const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as { filename: string; files: { path: string }[] }[];
    const files = info!.files.map((f) => f.path);
    for (const file of [
      'dist/index.js',
      'dist/index.d.ts',
      'dist/cli.js',
      'dist/server.js',
      'dist/migrations/20261123000000_initial.js',
      'dist/security/common-passwords.txt',
      'views/layout.ejs',
      'views/assets/site.css',
      'config/idp.example.yaml',
      'README.md',
    ]) {
      t.true(files.includes(file), `${file} is in the package`);
    }
    t.deepEqual(
      files.filter((f) => /^(src|test|migrations|\.ci)\//.test(f) || f.includes('demo') || f === 'dist/build.js' || f.endsWith('.ts') && !f.endsWith('.d.ts')),
      [],
      'no sources, tests or development tools',
    );

    // An app with the package in node_modules and, next to it, the declared dependencies only.
    const app = path.join(dir, 'app');
    const modules = path.join(app, 'node_modules');
    await mkdir(modules, { recursive: true });
    t.is((await run('tar', ['-xzf', path.join(dir, info!.filename), '-C', modules], dir)).code, 0);
    await rename(path.join(modules, 'package'), path.join(modules, 'oidc-sspr'));
    const pkg = JSON.parse(await readFile(path.join(modules, 'oidc-sspr/package.json'), 'utf8')) as { dependencies: Record<string, string>; bin: Record<string, string> };
    for (const dep of Object.keys(pkg.dependencies)) {
      await mkdir(path.dirname(path.join(modules, dep)), { recursive: true });
      await symlink(path.join(ROOT, 'node_modules', dep), path.join(modules, dep), 'dir');
    }

    // The database was migrated by the sources first: to the built package it is up to date.
    const db = openDatabase({ client: 'sqlite', filename: path.join(app, 'data/idp.sqlite'), pool: { min: 0, max: 10 }, preparedStatements: true });
    try {
      t.true((await migrateLatest(db)).length > 0);
    } finally {
      await db.destroy();
    }

    await writeFile(path.join(app, 'start.mjs'), START);
    const started = await run(NODE, ['start.mjs'], app);
    t.is(started.code, 0, started.stderr);
    const out = JSON.parse(started.stdout) as Record<string, unknown>;
    const installed = path.join(modules, 'oidc-sspr');
    t.is(out.module, `file://${installed}/dist/index.js`);
    t.is(out.viewsDir, `${installed}/views/`);
    t.is(out.migrationsDir, `${installed}/dist/migrations/`);
    t.regex(String(out.issuer), /^http:\/\/127\.0\.0\.1:\d+$/);
    t.true(Number(out.keys) >= 1, 'the JWKS has the generated key');
    t.deepEqual(out.reset, [200, true], 'a page is rendered from the shipped views');
    t.is(out.css, 200);
    t.is(out.captcha, 200, 'the CAPTCHA widget is served from the altcha dependency');

    // Its types, from TypeScript.
    await writeFile(path.join(app, 'consumer.ts'), CONSUMER);
    await writeFile(
      path.join(app, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'ES2023', strict: true, noEmit: true, skipLibCheck: true, types: [] }, files: ['consumer.ts'] }),
    );
    await writeFile(path.join(app, 'package.json'), JSON.stringify({ name: 'host-app', private: true, type: 'module' }));
    const typed = await run(NODE, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], app);
    t.is(typed.code, 0, typed.stdout + typed.stderr);

    // The bins.
    t.is(pkg.bin['oidc-sspr'], 'dist/cli.js');
    const check = await run(NODE, [path.join(installed, pkg.bin['oidc-sspr']!), 'config', 'check', path.join(installed, 'config/idp.example.yaml')], app);
    t.is(check.code, 0, check.stderr);
    t.is(check.stdout, `ok: ${path.join(installed, 'config/idp.example.yaml')}\n`);
    const server = await run(NODE, [path.join(installed, pkg.bin['oidc-sspr-server']!), '--no-such-option'], app);
    t.is(server.code, 2);
    t.regex(server.stderr, /usage: oidc-sspr-server \[--config FILE\]/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
