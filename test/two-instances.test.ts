import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freshDatabase } from './helpers/db.ts';
import { runServer, writeYaml, freePort, type ServerProcess } from './helpers/process.ts';
import { defaultClients, testArgon2 } from './helpers/idp.ts';
import { createIdpParts } from '../src/app.ts';
import { parseConfig } from '../src/config/load.ts';
import { createLogger } from '../src/logging.ts';
import { discover, authorizationRequest, newBrowser, oidc } from './helpers/rp.ts';
import { formWith } from './helpers/browser.ts';

// Two real server processes share one database; one flow hops between them.
test('authorize on instance A, sign in and redeem the code on instance B', async (t) => {
  const db = await freshDatabase();
  const dir = await mkdtemp(path.join(tmpdir(), 'oidc-sspr-two-'));
  const portA = await freePort();
  let portB = await freePort();
  while (portB === portA) portB = await freePort(); // a port just released may be handed out again
  const issuer = `http://127.0.0.1:${portA}`;
  const base = {
    server: { issuer, host: '127.0.0.1' },
    database: db.config,
    logging: { level: 'info' },
    clients: defaultClients,
    passwords: { argon2: testArgon2 },
  };
  await writeYaml(path.join(dir, 'a.yaml'), { ...base, server: { ...base.server, port: portA } });
  await writeYaml(path.join(dir, 'b.yaml'), { ...base, server: { ...base.server, port: portB } });

  const servers: ServerProcess[] = [];
  try {
    // Both start together on an empty database: they race for migrations and key generation.
    servers.push(runServer(['--config', path.join(dir, 'a.yaml')]), runServer(['--config', path.join(dir, 'b.yaml')]));
    await Promise.all(servers.map((s) => s.waitFor(/listening on port/)));

    const parts = await createIdpParts(parseConfig({ ...base, logging: { level: 'silent' } }), { logger: createLogger('silent') });
    await parts.users.create({ username: 'dave', password: 'dave password 12' });
    await parts.close();

    const onB = (url: string) => url.replace(`:${portA}/`, `:${portB}/`);
    const jwksA = await (await fetch(`http://127.0.0.1:${portA}/jwks`)).json();
    const jwksB = await (await fetch(`http://127.0.0.1:${portB}/jwks`)).json();
    t.deepEqual(jwksA, jwksB, 'both instances publish the same keys');

    const configA = await discover({ issuer, clientId: 'confidential-app', clientSecret: 'confidential-app-secret-0123456789' });
    const browser = newBrowser();
    const auth = await authorizationRequest(configA, { scope: 'openid profile offline_access', prompt: 'consent' });
    // Authorize on A: it answers with a redirect to the sign-in page.
    const first = await browser.request(auth.url.href);
    t.is(first.status, 303);
    // Everything after that on B.
    const loginPage = await browser.navigate(onB(new URL(first.headers.get('location')!, issuer).href));
    t.is(loginPage.status, 200);
    const form = formWith(loginPage, '/login');
    const posted = await browser.request(form.action, { form: { ...form.fields, username: 'dave', password: 'dave password 12' } });
    t.is(posted.status, 303);
    const callback = await browser.navigate(onB(new URL(posted.headers.get('location')!, loginPage.url).href));
    t.is(callback.status, 0, 'back at the relying party');

    const { supportsPKCE: _unused, ...metadata } = configA.serverMetadata();
    const metaB: oidc.ServerMetadata = { ...metadata, token_endpoint: onB(metadata.token_endpoint!) };
    const configB = new oidc.Configuration(metaB, 'confidential-app', undefined, oidc.ClientSecretBasic('confidential-app-secret-0123456789'));
    oidc.allowInsecureRequests(configB);
    const tokens = await oidc.authorizationCodeGrant(configB, new URL(callback.url), {
      pkceCodeVerifier: auth.verifier,
      expectedState: auth.state,
      expectedNonce: auth.nonce,
      idTokenExpected: true,
    });
    t.truthy(tokens.claims()?.sub);

    // The code is single-use across instances: redeeming it again on A fails.
    const replay = oidc.authorizationCodeGrant(configA, new URL(callback.url), { pkceCodeVerifier: auth.verifier, expectedState: auth.state, expectedNonce: auth.nonce });
    const replayError = await t.throwsAsync(replay);
    t.is((replayError as unknown as { error?: string }).error, 'invalid_grant');

    // The replay revoked the grant: the refresh token from B no longer works on A either.
    await t.throwsAsync(oidc.refreshTokenGrant(configA, tokens.refresh_token!));
    for (const s of servers) t.notRegex(s.output(), /Unsupported runtime|"level":50/);
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    await rm(dir, { recursive: true, force: true });
    await db.cleanup();
  }
});
