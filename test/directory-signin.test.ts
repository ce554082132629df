/** Pass-through sign-in of directory users against a real slapd; the directory down; /healthz. */
import test from 'ava';
import { startIdp, type RunningIdp } from './helpers/idp.ts';
import { discover, login, authorizationRequest, newBrowser, signIn } from './helpers/rp.ts';
import { startSlapd, BASE_DN, SERVICE_DN, SERVICE_PASSWORD, type TestSlapd } from './helpers/slapd.ts';

let slapd: TestSlapd;
let idp: RunningIdp;
const rp = () => discover({ issuer: idp.issuer, clientId: 'confidential-app', clientSecret: 'confidential-app-secret-0123456789' });

test.before(async () => {
  slapd = await startSlapd();
  idp = await startIdp({
    config: { directory: { url: slapd.url, bindDn: SERVICE_DN, bindPassword: SERVICE_PASSWORD, baseDn: BASE_DN, groupBaseDn: `ou=groups,${BASE_DN}`, syncIntervalMinutes: 0, timeouts: { connectSeconds: 2, operationSeconds: 5 } } },
  });
  // createIdp synchronises at start.
  await idp.idp.parts.directory!.settled();
  await idp.idp.parts.users.create({ username: 'cloudy', password: 'cloudy password 12' });
});
test.after.always(async () => {
  await idp?.close();
  await slapd?.stop();
});

async function attempt(username: string, password: string) {
  const browser = newBrowser();
  const page = await browser.navigate((await authorizationRequest(await rp())).url.href);
  return signIn(browser, page, username, password);
}

test.serial('a directory user signs in with the directory password (a bind); no password is stored here', async (t) => {
  t.truthy((await login(await rp(), 'alice', 'alice directory pw 1')).tokens.id_token);
  t.truthy((await login(await rp(), 'ZOË', 'zoë directory pw 1')).tokens.id_token);
  t.is((await idp.idp.parts.users.find('alice'))!.passwordHash, null);
  const wrong = await attempt('alice', 'not it');
  t.is(wrong.status, 200);
  const failures = await idp.idp.parts.store.audit.list({ type: 'signin.failure' });
  t.true(failures.some((e) => e.details?.reason === 'wrong_password'));
  t.is((await idp.idp.parts.users.find('alice'))!.failedSignins, 1, 'the local lockout counts directory failures');
});

test.serial('filter injection at sign-in is just a failed sign-in', async (t) => {
  const page = await attempt('*)(uid=*', 'alice directory pw 1');
  t.is(page.status, 200);
  t.regex(page.html, /class="alert"/);
});

test.serial('/healthz reports the directory apart; with slapd gone a directory user gets DIRECTORY_UNREACHABLE (503, Retry-After), a cloud user still signs in', async (t) => {
  const ok = await (await fetch(`${idp.url}/healthz`)).json();
  t.deepEqual(ok, { status: 'ok', directory: { status: 'ok' } });
  await slapd.kill();
  try {
    const health = await fetch(`${idp.url}/healthz`);
    t.is(health.status, 200);
    t.deepEqual(await health.json(), { status: 'ok', directory: { status: 'unavailable', error: 'DIRECTORY_UNREACHABLE' } });
    const before = (await idp.idp.parts.users.find('bob'))!.failedSignins;
    const page = await attempt('bob', 'bob directory pw 1');
    t.is(page.status, 503);
    t.regex(page.html, /DIRECTORY_UNREACHABLE/);
    t.is(page.headers.get('retry-after'), '5');
    t.is((await idp.idp.parts.users.find('bob'))!.failedSignins, before, 'not counted as a failure');
    const audit = await idp.idp.parts.store.audit.list({ type: 'signin.failure' });
    t.true(audit.some((e) => e.details?.reason === 'directory_unreachable'));
    t.truthy((await login(await rp(), 'cloudy', 'cloudy password 12')).tokens.id_token);
  } finally {
    await slapd.restart();
  }
});

test.serial('/healthz with a directory that hangs (slapd stopped, connections accepted, no answers): the directory is reported unavailable, the IdP itself ok, cloud users sign in', async (t) => {
  slapd.pause();
  try {
    const probes = await Promise.all([1, 2, 3].map(() => fetch(`${idp.url}/healthz`)));
    for (const health of probes) {
      t.is(health.status, 200);
      t.deepEqual(await health.json(), { status: 'ok', directory: { status: 'unavailable', error: 'DIRECTORY_UNREACHABLE' } });
    }
    t.truthy((await login(await rp(), 'cloudy', 'cloudy password 12')).tokens.id_token);
  } finally {
    await slapd.kill();
    await slapd.restart();
  }
  t.deepEqual(await (await fetch(`${idp.url}/healthz`)).json(), { status: 'ok', directory: { status: 'ok' } });
});
