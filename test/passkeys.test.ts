import test from 'ava';
import { startSsprIdp, type SsprTestbed } from './helpers/sspr-idp.ts';
import { Browser, type Page } from './helpers/browser.ts';
import { SoftAuthenticator, passkeyOptions } from './helpers/webauthn.ts';
import { parseCredential, slotOf } from '../src/methods/passkey/webauthn.ts';
import { relyingPartyOf } from '../src/methods/passkey/relying-party.ts';
import { ConfigError, parseConfig } from '../src/config/load.ts';

// Passkeys with a software authenticator producing real WebAuthn responses (ES256, CBOR, "none"
// attestation): registered on /security-info, listed, renamed and removed; what is stored.

let bed: SsprTestbed;

test.before(async () => {
  bed = await startSsprIdp(
    { enabled: 'all', methodsRequired: 1, methods: { email: true, authenticatorApp: true, passkey: true }, registration: { requireOnSignIn: false }, codes: { resendAfterSeconds: 0 } },
    { host: 'localhost' },
  );
});
test.after.always(async () => {
  await bed?.close();
});

const parts = () => bed.idp.idp.parts;
type Creation = Parameters<SoftAuthenticator['create']>[0];

async function securityInfo(username: string): Promise<{ browser: Browser; page: Page; userId: string }> {
  const user = await parts().users.create({ username, password: `${username} password 1` });
  await parts().store.sspr.putMethod(user.id, 'email', `${username}@example.net`, bed.clock.now());
  const browser = new Browser();
  const form = await browser.navigate(`${bed.idp.issuer}/security-info`);
  const page = await browser.submit(form, '/security-info/login', { username, password: `${username} password 1` });
  return { browser, page, userId: user.id };
}

async function addPasskey(browser: Browser, from: Page, authenticator: SoftAuthenticator, label: string) {
  const page = await browser.follow(from, '/methods/passkey');
  const { response } = authenticator.create(passkeyOptions<Creation>(page.html, 'register'));
  return browser.submit(page, '/methods/passkey/create', { response: JSON.stringify(response), label });
}

test('a passkey registered on /security-info is stored with its key, counter, flags and label; listed, renamed, removed', async (t) => {
  const { browser, page, userId } = await securityInfo('petra');
  const authenticator = new SoftAuthenticator(new URL(bed.idp.issuer).origin);
  const form = await browser.follow(page, '/methods/passkey');
  const options = passkeyOptions<Creation & { rp: { id: string }; authenticatorSelection: Record<string, string> }>(form.html, 'register');
  t.is(options.rp.id, 'localhost');
  t.is(options.authenticatorSelection.residentKey, 'required');
  t.is(options.authenticatorSelection.userVerification, 'required');
  const { response, credential } = authenticator.create(options);
  const done = await browser.submit(form, '/methods/passkey/create', { response: JSON.stringify(response), label: 'Work laptop' });
  t.is(done.status, 200, done.html.slice(0, 500));
  t.regex(done.html, /1 passkey/);

  const stored = (await parts().store.sspr.methods(userId)).filter((m) => m.kind === 'passkey');
  t.is(stored.length, 1);
  t.is(stored[0]!.slot, slotOf(response.id));
  t.is(stored[0]!.label, 'Work laptop');
  const value = parseCredential(stored[0]!.value);
  t.is(value.credentialId, response.id);
  t.is(value.counter, 0);
  t.deepEqual(value.transports, ['internal']);
  t.false(value.backupEligible);
  t.is(value.lastUsedAt, null);
  t.true((await parts().store.audit.list({ userId })).some((e) => e.type === 'sspr.method.added' && e.details?.method === 'passkey'));

  // A second, synced one; then the list, a rename and removing one of the two.
  const synced = await browser.follow(done, '/methods/passkey');
  const second = authenticator.create(passkeyOptions<Creation>(synced.html, 'register'), { synced: true });
  await browser.submit(synced, '/methods/passkey/create', { response: JSON.stringify(second.response), label: 'Phone' });
  const list = await browser.navigate(`${bed.idp.issuer}/security-info/methods/passkey`);
  t.regex(list.html, /Work laptop/);
  t.regex(list.html, /Phone/);
  t.regex(list.html, /synced between your devices/);
  t.true(parseCredential((await parts().store.passkeys.find(slotOf(second.response.id)))!.value).backupEligible);
  t.truthy(credential);

  const renamed = await browser.submit(list, '/methods/passkey/rename', { slot: slotOf(response.id), label: 'Old laptop' });
  t.is(renamed.status, 200);
  t.regex(renamed.html, /Old laptop/);
  const removed = await browser.submit(renamed, '/methods/passkey/delete', { slot: slotOf(second.response.id) });
  t.is(removed.status, 200);
  t.regex(removed.html, /1 passkey/);
  t.is(await parts().store.passkeys.find(slotOf(second.response.id)), undefined);

  // The last one only goes through the overview's Remove (which checks the user keeps enough).
  const page2 = await browser.navigate(`${bed.idp.issuer}/security-info/methods/passkey`);
  t.notRegex(page2.html, /methods\/passkey\/delete/);
  const last = await browser.request(`${bed.idp.issuer}/security-info/methods/passkey/delete`, { method: 'POST', form: { csrf: /name="csrf" value="([^"]+)"/.exec(page2.html)![1]!, slot: slotOf(response.id) } });
  t.is(last.status, 409);
  t.truthy(await parts().store.passkeys.find(slotOf(response.id)));
});

test.serial('a passkey made for another origin or RP ID, without user verification, replayed, or for another flow is refused and stores nothing', async (t) => {
  const { browser, page, userId } = await securityInfo('rudi');
  const authenticator = new SoftAuthenticator(new URL(bed.idp.issuer).origin);
  const count = async () => (await parts().store.sspr.methods(userId)).filter((m) => m.kind === 'passkey').length;
  const refusals = async () => (await parts().store.audit.list({ userId })).filter((e) => e.type === 'passkey.register.refused').map((e) => e.details?.reason);

  const attempt = async (override: Parameters<SoftAuthenticator['create']>[1], raw?: (r: unknown) => string) => {
    const form = await browser.follow(page, '/methods/passkey');
    const { response } = authenticator.create(passkeyOptions<Creation>(form.html, 'register'), override);
    return browser.submit(form, '/methods/passkey/create', { response: raw ? raw(response) : JSON.stringify(response), label: 'x' });
  };
  for (const override of [{ origin: 'https://evil.example' }, { rpId: 'evil.example' }, { uv: false }, { type: 'webauthn.get' }]) {
    const refused = await attempt(override);
    t.is(refused.status, 400, JSON.stringify(override));
    t.regex(refused.html, /couldn(&#39;|')t be checked/);
  }
  for (const raw of ['', 'not json', '{"id":"x"}', JSON.stringify({ id: 'a', rawId: 'a', type: 'public-key', response: { clientDataJSON: 'bm9wZQ' } })]) {
    const refused = await attempt({}, () => raw);
    t.is(refused.status, 400);
  }
  // The challenge of another flow (another user's page) and a replay of a used one.
  const other = await securityInfo('sven');
  const foreign = await other.browser.follow(other.page, '/methods/passkey');
  const form = await browser.follow(page, '/methods/passkey');
  const { response } = authenticator.create(passkeyOptions<Creation>(foreign.html, 'register'));
  t.is((await browser.submit(form, '/methods/passkey/create', { response: JSON.stringify(response), label: 'x' })).status, 400);
  t.is(await count(), 0);
  const good = authenticator.create(passkeyOptions<Creation>(form.html, 'register'));
  t.is((await browser.submit(form, '/methods/passkey/create', { response: JSON.stringify(good.response), label: 'x' })).status, 200);
  t.is(await count(), 1);
  t.is((await browser.submit(form, '/methods/passkey/create', { response: JSON.stringify(good.response), label: 'x' })).status, 400, 'replayed');
  t.is(await count(), 1);
  // An expired challenge.
  const late = await browser.follow(page, '/methods/passkey');
  const slow = authenticator.create(passkeyOptions<Creation>(late.html, 'register'));
  bed.clock.advance(6 * 60_000);
  const expired = await browser.submit(late, '/methods/passkey/create', { response: JSON.stringify(slow.response), label: 'x' });
  t.is(expired.status, 400);
  t.regex(expired.html, /took too long/);
  t.deepEqual(await refusals(), ['not_verified', 'not_verified', 'not_verified', 'not_verified', 'malformed', 'malformed', 'malformed', 'malformed', 'challenge_other_flow', 'challenge_used', 'challenge_expired']);
});

test('passkeys need an issuer a browser offers them on: a domain name, on https or http://localhost', (t) => {
  const config = (issuer: string) => () => parseConfig({ server: { issuer }, sspr: { methods: { passkey: true } } });
  for (const issuer of ['http://127.0.0.1:3000', 'https://[::1]:8443', 'http://login.example.org', 'https://192.0.2.7']) {
    const error = t.throws(config(issuer), { instanceOf: ConfigError }, issuer);
    t.is(error?.problems[0]?.path, 'sspr.methods.passkey', issuer);
  }
  for (const issuer of ['https://login.example.org/idp', 'http://localhost:3000', 'http://idp.localhost:3000']) t.notThrows(config(issuer), issuer);
  t.notThrows(() => parseConfig({ server: { issuer: 'http://127.0.0.1:3000' } }), 'no passkeys, no check');
  t.deepEqual(relyingPartyOf('https://login.example.org/idp'), { ok: true, rp: { id: 'login.example.org', origin: 'https://login.example.org' } });
});
