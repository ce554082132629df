/**
 * `oidc-sspr users set-password` (run as a real child process) ends what a self-service reset ends:
 * the relying party's access token (userinfo 401), its refresh token, the IdP session (prompt=none
 * gets login_required); the change is audited and the user told by email.
 */
import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { runCli } from './helpers/process.ts';
import { startIdp, testArgon2, type RunningIdp } from './helpers/idp.ts';
import { authorizationRequest, discover, login, oidc } from './helpers/rp.ts';

let dir: string;
let configFile: string;
let idp: RunningIdp;

test.before(async () => {
  idp = await startIdp();
  dir = await mkdtemp(path.join(tmpdir(), 'oidc-sspr-admin-reset-'));
  configFile = path.join(dir, 'idp.yaml');
  await writeFile(configFile, stringify({ database: idp.db.config, logging: { level: 'silent' }, passwords: { argon2: testArgon2 } }));
});
test.after.always(async () => {
  await idp?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('users set-password ends sessions, refresh and access tokens, is audited and notifies the user', async (t) => {
  const user = await idp.idp.parts.users.create({ username: 'vera', email: 'vera@example.org', password: 'vera password 123' });
  const rp = await discover({ issuer: idp.issuer, clientId: 'confidential-app', clientSecret: 'confidential-app-secret-0123456789' });
  const { tokens, browser } = await login(rp, 'vera', 'vera password 123');
  t.is((await oidc.fetchUserInfo(rp, tokens.access_token, user.id)).sub, user.id, 'the access token works before');
  const silent = async () => browser.navigate((await authorizationRequest(rp, { prompt: 'none' })).url.href);
  t.regex((await silent()).url, /[?&]code=/, 'the session signs in silently before');

  const set = await runCli(['--config', configFile, 'users', 'set-password', 'vera'], { input: 'an admin chose this 1\n' });
  t.is(set.code, 0, set.stderr);
  t.regex(set.stdout, /password set for vera/);
  t.regex(set.stdout, /notified vera at /);

  const userinfo = await fetch(rp.serverMetadata().userinfo_endpoint!, { headers: { Authorization: `Bearer ${tokens.access_token}` } });
  t.is(userinfo.status, 401, 'the access token is revoked');
  await t.throwsAsync(oidc.refreshTokenGrant(rp, tokens.refresh_token!), undefined, 'the refresh token is refused');
  const after = new URL((await silent()).url);
  t.is(after.searchParams.get('error'), 'login_required', 'the IdP session ended');
  t.is(after.searchParams.get('code'), null);

  const [audited] = await idp.idp.parts.store.audit.list({ type: 'admin.users.set-password', userId: user.id });
  t.truthy(audited, 'audited');
  const mails = await idp.idp.parts.store.outbox.latest({ userId: user.id });
  t.true(mails.some((m) => m.recipient === 'vera@example.org' && /password was reset/.test(m.subject ?? '')), 'the user is told');
  await t.throwsAsync(login(rp, 'vera', 'vera password 123'), { message: /did not return to the client/ }, 'the old password is refused');
  t.truthy((await login(rp, 'vera', 'an admin chose this 1')).tokens.access_token, 'the new one works');
});
