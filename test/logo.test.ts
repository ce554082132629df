import test from 'ava';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseConfig, ConfigError } from '../src/config/load.ts';
import { createIdp } from '../src/app.ts';
import { startIdp, buildConfig } from './helpers/idp.ts';
import { freshDatabase } from './helpers/db.ts';
import { ROOT, runServer, writeYaml } from './helpers/process.ts';

// ui.logoFile: the organisation's logo, served by the IdP itself (no proxy, no outside host).

const LOGO = path.join(ROOT, 'test/fixtures/logo.svg');

test('the logo file is shown on every page and served from the IdP, with a CSP of its own', async (t) => {
  const idp = await startIdp({ prefix: '/idp', config: { ui: { organisation: 'Example Organisation', logoFile: LOGO } } });
  try {
    const page = await fetch(`${idp.issuer}/reset`);
    const html = await page.text();
    t.regex(html, /<img class="logo" src="\/idp\/assets\/logo\.svg" alt="">/);
    const logo = await fetch(`${idp.issuer}/assets/logo.svg`);
    t.is(logo.status, 200);
    t.is(logo.headers.get('content-type'), 'image/svg+xml');
    t.regex(logo.headers.get('content-security-policy') ?? '', /default-src 'none'/);
    t.deepEqual(Buffer.from(await logo.arrayBuffer()), await readFile(LOGO));
    t.is((await fetch(`${idp.issuer}/assets/logo.png`)).status, 404, 'only under its own extension');
  } finally {
    await idp.close();
  }
});

test('a logo file that is missing, empty or of another kind is a configuration error naming ui.logoFile', async (t) => {
  const problems = (error: unknown) => (error as ConfigError).problems.map((p) => `${p.path}: ${p.message}`).join('\n');
  const both = t.throws(() => parseConfig({ ui: { logoUrl: 'https://example.org/logo.svg', logoFile: LOGO } }), { instanceOf: ConfigError });
  t.regex(problems(both), /ui\.logoFile: use either logoUrl or logoFile/);
  const kind = t.throws(() => parseConfig({ ui: { logoFile: 'logo.gif' } }), { instanceOf: ConfigError });
  t.regex(problems(kind), /ui\.logoFile: must be an \.svg, \.png, \.jpg or \.webp file/);

  const db = await freshDatabase();
  try {
    const config = buildConfig('http://127.0.0.1:9', db, { ui: { logoFile: 'no/such/logo.svg' } });
    const missing = await t.throwsAsync(createIdp(config), { instanceOf: ConfigError });
    t.regex(problems(missing), /ui\.logoFile: no\/such\/logo\.svg: file not found/);
    const empty = buildConfig('http://127.0.0.1:9', db, { ui: { logoFile: path.join(ROOT, 'test/fixtures/empty.svg') } });
    t.regex(problems(await t.throwsAsync(createIdp(empty), { instanceOf: ConfigError })), /the file is empty/);
  } finally {
    await db.cleanup();
  }
});

test('the server does not start with a missing logo file, and says which key', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'oidc-sspr-logo-'));
  try {
    const file = path.join(dir, 'idp.yaml');
    await writeYaml(file, { database: { client: 'sqlite', filename: path.join(dir, 'idp.sqlite') }, ui: { logoFile: path.join(dir, 'logo.svg') } });
    const server = runServer(['--config', file]);
    t.is(await server.exited, 2);
    t.regex(server.output(), /ui\.logoFile: .*logo\.svg: file not found/);
    t.regex(server.output(), /not started/);
    t.notRegex(server.output(), /\n\s+at /, 'no stack trace');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
