import test from 'ava';
import type { Cluster } from './helpers/cluster.ts';
import { CLIENT, lastMailId, mailTo, useTwoInstanceBed } from './helpers/two-instance-bed.ts';
import { Browser, type Page } from './helpers/browser.ts';
import { authorizationRequest, signIn, redeem, rpAt, oidc, type Authorization } from './helpers/rp.ts';
import { RP_REDIRECT } from './helpers/idp.ts';
import { ssprWith } from './helpers/sspr-settings.ts';

// Two real server processes on one database. A whole journey (sign-in with the registration
// interrupt, back at the client, "Can't access your account?", sign-in with the new password)
// where every request goes to the other instance than the one before; then an instance is
// killed with SIGKILL in the middle of a registration and in the middle of a reset, and the
// other one finishes the job: nothing a flow needs lives only in one process.

const A = 0;
const B = 1;
const name = (i: number) => (i === A ? 'A' : 'B');

/**
 * The test browser, sending each request to an instance of the cluster: by turns (A, B, A, …) among
 * the live ones, or always the pinned one. Cookies belong to the host name, so both see them.
 */
class HoppingBrowser extends Browser {
  readonly cluster: Cluster;
  /** Which instance served each request, in order. */
  readonly served: number[] = [];
  pinned: number | undefined;
  #turn = 0;

  constructor(cluster: Cluster) {
    super([new URL(RP_REDIRECT).origin]);
    this.cluster = cluster;
  }

  override async request(url: string, init: Parameters<Browser['request']>[1] = {}): Promise<Page> {
    const target = new URL(url);
    if (target.hostname === '127.0.0.1' && this.cluster.ports.includes(Number(target.port))) {
      const live = this.cluster.ports.map((_p, i) => i).filter((i) => this.cluster.alive(i));
      const i = this.pinned ?? live[this.#turn++ % live.length]!;
      target.port = String(this.cluster.ports[i]);
      this.served.push(i);
    }
    return super.request(target.href, init);
  }

  get last(): number {
    return this.served.at(-1)!;
  }
}

const the = useTwoInstanceBed({ sspr: ssprWith(['email']) });

/** The relying party, talking to instance i for everything but the issuer name. */
function rpOn(i: number): oidc.Configuration {
  const { cluster, rp } = the();
  return rpAt(rp, cluster.url(A), cluster.url(i), CLIENT.clientId, CLIENT.clientSecret);
}

async function newUser(username: string): Promise<string> {
  const user = await the().parts.users.create({ username, password: `${username} first password` });
  return user.id;
}

/** Authorize and sign in; the page after the password. */
async function startSignIn(browser: HoppingBrowser, username: string, password: string): Promise<{ auth: Authorization; page: Page }> {
  const auth = await authorizationRequest(the().rp, { scope: 'openid profile offline_access', prompt: 'consent' });
  const form = await browser.navigate(auth.url.href);
  if (!/name="password"/.test(form.html)) throw new Error(`no sign-in page: ${form.status} ${form.html.slice(0, 1500)}`);
  return { auth, page: await signIn(browser, form, username, password) };
}

/** Starts "Can't access your account?" for a user and chooses email; returns the code page. */
async function resetByEmail(browser: HoppingBrowser, username: string): Promise<Page> {
  const identify = await browser.navigate(`${the().cluster.issuer}/reset`);
  const choices = await browser.submit(identify, '/reset', { username });
  if (!/value="email"/.test(choices.html)) throw new Error(`no email choice: ${choices.status} ${choices.html.slice(0, 1500)}`);
  return browser.submit(choices, '/reset/flow/method', { method: 'email' });
}

/** How many requests each instance served, e.g. "A=13, B=12". */
function perInstance(served: number[]): string {
  return [A, B].map((i) => `${name(i)}=${served.filter((s) => s === i).length}`).join(', ');
}

/** Endpoints the relying party calls itself (not through the browser). */
const RP_PATHS = new Set(['/token', '/me', '/jwks', '/.well-known/openid-configuration', '/healthz']);

/** Requests instance i logged (its request log lines) in its output after `from` characters, the relying party's own left out. */
function loggedRequests(i: number, from: number): number {
  return the()
    .cluster.output(i)
    .slice(from)
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { msg?: string; path?: string })
    .filter((entry) => entry.msg === 'request' && !RP_PATHS.has(entry.path ?? '')).length;
}

function assertAlternates(t: import('ava').ExecutionContext, label: string, served: number[]): void {
  t.log(`${label}: ${served.length} requests to the IdP, ${perInstance(served)}`);
  t.deepEqual(
    served.map(name).join(''),
    served.map((_s, i) => name((served[0]! + i) % 2)).join(''),
    'every request went to the other instance than the one before',
  );
  const switches = served.filter((s, i) => i > 0 && s !== served[i - 1]).length;
  t.is(switches, served.length - 1, 'an instance switch between every two requests');
  const first = served[0]!;
  t.deepEqual(
    { [name(first)]: served.filter((s) => s === first).length, [name(1 - first)]: served.filter((s) => s !== first).length },
    { [name(first)]: Math.ceil(served.length / 2), [name(1 - first)]: Math.floor(served.length / 2) },
    'each instance served every other request',
  );
}

test.serial('the whole journey with every request on the other instance: registration at sign-in, tokens, reset, sign-in with the new password', async (t) => {
  const { cluster, parts } = the();
  const userId = await newUser('jasper');
  const address = 'jasper.private@example.net';
  const browser = new HoppingBrowser(cluster);
  const logStart = [A, B].map((i) => cluster.output(i).length);

  // Authorize → sign-in page → password → the registration interrupt.
  const { auth, page: interrupt } = await startSignIn(browser, 'jasper', 'jasper first password');
  t.is(interrupt.status, 200);
  t.regex(interrupt.html, /Don(&#39;|')t lose access to your account/);

  // Register email with the code from the outbox.
  const emailForm = await browser.follow(interrupt, '/methods/email');
  const before = await lastMailId(the().parts, address);
  const codePage = await browser.submit(emailForm, '/methods/email/send', { address });
  t.regex(codePage.html, /\/methods\/email\/verify/);
  const { code } = await mailTo(the().parts, address, before);
  const overview = await browser.submit(codePage, '/methods/email/verify', { code });
  t.regex(overview.html, /j•+@example\.net/, 'the registered address is shown (masked)');
  t.deepEqual((await parts.store.sspr.methods(userId)).map((m) => [m.kind, m.value]), [['email', address]]);

  // Finish → back at the relying party, which redeems the code at the instance after the last one.
  const back = await browser.submit(overview, '/finish');
  t.is(back.status, 0, `back at the client (last page: ${back.html.slice(0, 300)})`);
  const tokens = await redeem(rpOn(1 - browser.last), auth, back.url);
  t.truthy(tokens.id_token);
  t.truthy(tokens.refresh_token);
  const sub = tokens.claims()!.sub;
  t.is(sub, userId);

  // "Can't access your account?": identify, email code, new password.
  const beforeReset = await lastMailId(the().parts, address);
  const resetCode = await resetByEmail(browser, 'jasper');
  t.regex(resetCode.html, /\/reset\/flow\/answer/);
  const { code: code2 } = await mailTo(the().parts, address, beforeReset);
  const passwordPage = await browser.submit(resetCode, '/reset/flow/answer', { code: code2 });
  t.regex(passwordPage.html, /Choose a new password/);
  const done = await browser.submit(passwordPage, '/reset/flow/password', { password: 'copper lantern orbit', confirm: 'copper lantern orbit' });
  t.regex(done.html, /Your password has been reset/);
  await t.throwsAsync(oidc.refreshTokenGrant(rpOn(browser.last), tokens.refresh_token!), undefined, 'the reset ended the refresh token, on either instance');

  // Sign in again with the new password, in a fresh browser, still hopping.
  const fresh = new HoppingBrowser(cluster);
  const oldPassword = await startSignIn(fresh, 'jasper', 'jasper first password');
  t.regex(oldPassword.page.html, /name="password"/, 'the old password is refused');
  const again = await startSignIn(fresh, 'jasper', 'copper lantern orbit');
  t.is(again.page.status, 0, 'registered: no interruption this time');
  const tokens2 = await redeem(rpOn(1 - fresh.last), again.auth, again.page.url);
  t.is(tokens2.claims()!.sub, userId);
  const info = await oidc.fetchUserInfo(rpOn(fresh.last), tokens2.access_token, userId);
  t.is(info.sub, userId);

  assertAlternates(t, 'journey', browser.served);
  assertAlternates(t, 'sign-in with the new password', fresh.served);
  t.true(browser.served.length >= 12, `a real journey (${browser.served.length} requests)`);
  // The instances' own request logs agree with the browser's count (their lines may arrive a moment later).
  const expected = [A, B].map((i) => [...browser.served, ...fresh.served].filter((s) => s === i).length);
  let logged = [A, B].map((i) => loggedRequests(i, logStart[i]!));
  for (let wait = 0; wait < 600 && logged.some((n, i) => n !== expected[i]); wait += 1) { // ≥ 30 s: a bound against a hang only
    await new Promise((resolve) => setTimeout(resolve, 50));
    logged = [A, B].map((i) => loggedRequests(i, logStart[i]!));
  }
  t.log(`request log lines: A=${logged[A]}, B=${logged[B]}`);
  t.deepEqual(logged, expected, 'each instance logged exactly the browser requests sent to it');
  // Both processes really served requests of this journey (their request log lines).
  for (const i of [A, B]) {
    t.regex(cluster.output(i), /"path":"\/interaction\/[^"]+\/methods\/email/, `instance ${name(i)} served registration pages`);
    t.regex(cluster.output(i), /"path":"\/reset\/flow\//, `instance ${name(i)} served reset pages`);
    t.notRegex(cluster.output(i), /"level":50|Unsupported runtime/, `no errors on instance ${name(i)}`);
  }
});

test.serial('SIGKILL in the middle of a registration: the code sent by A verifies on B and the registration completes', async (t) => {
  const { cluster, parts } = the();
  const userId = await newUser('kim');
  const address = 'kim.private@example.net';
  const browser = new HoppingBrowser(cluster);
  try {
    const { auth, page: interrupt } = await startSignIn(browser, 'kim', 'kim first password');
    t.regex(interrupt.html, /Don(&#39;|')t lose access to your account/);
    const emailForm = await browser.follow(interrupt, '/methods/email');

    // A sends the code …
    browser.pinned = A;
    const before = await lastMailId(the().parts, address);
    const codePage = await browser.submit(emailForm, '/methods/email/send', { address });
    t.regex(codePage.html, /\/methods\/email\/verify/);
    const { code } = await mailTo(the().parts, address, before);

    // … and dies before it is verified.
    t.is(await cluster.kill(A, 'SIGKILL'), null, 'killed by the signal, not exited');
    t.false(cluster.alive(A));
    const refused = await fetch(`${cluster.url(A)}/healthz`).then(() => 'answered', () => 'refused');
    t.is(refused, 'refused', 'A is really gone');

    // B takes over: the code verifies, the registration finishes, the client gets its tokens.
    browser.pinned = B;
    const overview = await browser.submit(codePage, '/methods/email/verify', { code });
    t.regex(overview.html, /k•+@example\.net/);
    t.deepEqual((await parts.store.sspr.methods(userId)).map((m) => [m.kind, m.value]), [['email', address]]);
    const back = await browser.submit(overview, '/finish');
    t.is(back.status, 0, `back at the client (last page: ${back.html.slice(0, 300)})`);
    const tokens = await redeem(rpOn(B), auth, back.url);
    t.is(tokens.claims()!.sub, userId);
    t.notRegex(cluster.output(B), /"level":50/, 'B logged no errors');
    t.log(`registration across a SIGKILL: ${browser.served.length} requests, ${perInstance(browser.served)}`);
  } finally {
    if (!cluster.alive(A)) await cluster.restart(A);
  }

  // A is back on the same port and configuration, and serves the account like before.
  const later = new HoppingBrowser(cluster);
  later.pinned = A;
  const again = await startSignIn(later, 'kim', 'kim first password');
  t.is(again.page.status, 0, 'the restarted A knows kim is registered');
  t.truthy((await redeem(rpOn(A), again.auth, again.page.url)).id_token);
});

test.serial('SIGKILL in the middle of a reset: step 1 proven on one instance, the new password set on the other', async (t) => {
  const { cluster, parts } = the();
  const userId = await newUser('lena');
  const address = 'lena.private@example.net';
  await parts.store.sspr.putMethod(userId, 'email', address, Date.now());
  await parts.store.sspr.recordConfirmation(userId, Date.now());

  const browser = new HoppingBrowser(cluster);
  const before = await lastMailId(the().parts, address);
  const codePage = await resetByEmail(browser, 'lena');
  const { code } = await mailTo(the().parts, address, before);
  const passwordPage = await browser.submit(codePage, '/reset/flow/answer', { code });
  t.regex(passwordPage.html, /Choose a new password/, 'step 1 proven');
  // Kill the instance that just proved the step; the flow lives on in the database.
  const victim = browser.last;
  const survivor = 1 - victim;
  try {
    await cluster.kill(victim, 'SIGKILL');
    browser.pinned = survivor;
    const state = await browser.navigate(`${cluster.issuer}/reset/flow`);
    t.regex(state.html, /Choose a new password/, `${name(survivor)} shows the flow where ${name(victim)} left it`);
    const done = await browser.submit(passwordPage, '/reset/flow/password', { password: 'amber willow harbour', confirm: 'amber willow harbour' });
    t.regex(done.html, /Your password has been reset/);

    const fresh = new HoppingBrowser(cluster);
    fresh.pinned = survivor;
    const signedIn = await startSignIn(fresh, 'lena', 'amber willow harbour');
    t.is(signedIn.page.status, 0);
    t.is((await redeem(rpOn(survivor), signedIn.auth, signedIn.page.url)).claims()!.sub, userId);
    t.notRegex(cluster.output(survivor), /"level":50/, `${name(survivor)} logged no errors`);
    t.log(`reset across a SIGKILL of ${name(victim)}: ${browser.served.length} requests, ${perInstance(browser.served)}`);
  } finally {
    if (!cluster.alive(victim)) await cluster.restart(victim);
  }

  // The restarted instance agrees: the old password is gone, the new one works.
  const after = new HoppingBrowser(cluster);
  after.pinned = victim;
  const old = await startSignIn(after, 'lena', 'lena first password');
  t.regex(old.page.html, /name="password"/);
  const fresh = await startSignIn(after, 'lena', 'amber willow harbour');
  t.is(fresh.page.status, 0);
  t.truthy((await redeem(rpOn(victim), fresh.auth, fresh.page.url)).id_token);
});
