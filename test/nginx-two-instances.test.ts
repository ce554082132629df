/**
 * The deployment the README describes: a real nginx (Debian's) on loopback in front of two server
 * processes on one database, the issuer being nginx's URL, `server.trustProxy` on. A full sign-in
 * (openid-client) and a reset go through nginx; an instance is stopped in the middle of a sign-in
 * (SIGTERM, graceful) and killed in the middle of a reset (SIGKILL), and the flow goes on via the
 * other one. nginx's `$request_id` reaches the instance's log lines as the request id.
 */
import test from 'ava';
import { startNginx, type Nginx } from './helpers/nginx.ts';
import { freePort } from './helpers/process.ts';
import { RP_REDIRECT } from './helpers/idp.ts';
import { lastMailId, mailTo, useTwoInstanceBed } from './helpers/two-instance-bed.ts';
import { Browser, type Page } from './helpers/browser.ts';
import { authorizationRequest, signIn, redeem, login, oidc } from './helpers/rp.ts';
import { ssprWith } from './helpers/sspr-settings.ts';

/** nginx's $request_id: 32 hex digits (the IdP's own ids are UUIDs). */
const NGINX_ID = /^[0-9a-f]{32}$/;

const the = useTwoInstanceBed<Nginx>({
  sspr: ssprWith(['email']),
  config: { server: { trustProxy: true, proxyHops: 1 }, metrics: { enabled: true, listen: { port: 0 } } },
  // nginx's URL is the issuer, so its port is chosen before the instances start.
  issuer: async () => `http://127.0.0.1:${await freePort()}`,
  front: (cluster, issuer) =>
    startNginx(
      cluster.ports.map((port) => ({ port })),
      { port: Number(new URL(issuer).port), locationExtra: 'proxy_set_header X-Request-Id $request_id;' },
    ),
});

/** The test browser, keeping the request id of every answer it got from the IdP (through nginx). */
class TrackingBrowser extends Browser {
  readonly ids: string[] = [];
  readonly statuses: number[] = [];
  constructor() {
    super([new URL(RP_REDIRECT).origin]);
  }
  override async request(url: string, init: Parameters<Browser['request']>[1] = {}): Promise<Page> {
    const page = await super.request(url, init);
    if (new URL(url).origin === the().cluster.issuer) {
      this.ids.push(page.headers.get('x-request-id') ?? '');
      this.statuses.push(page.status);
    }
    return page;
  }
}

/** Which instance logged the request with this id (its request log line), polled: lines may come a moment later. */
async function servedBy(id: string): Promise<number> {
  const { cluster } = the();
  for (let i = 0; i < 600; i += 1) { // ≥ 30 s: a bound against a hang only
    const found = [0, 1].filter((n) => cluster.output(n).includes(`"requestId":"${id}"`));
    if (found.length === 1) return found[0]!;
    if (found.length > 1) throw new Error(`request ${id} logged by both instances`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`request ${id} logged by no instance`);
}

/**
 * Waits until nginx sends requests to instance i again: after a failed attempt it leaves an upstream
 * out for fail_timeout, whenever the instance came back. Probes /healthz through nginx.
 */
async function untilServing(i: number): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const response = await fetch(`${the().cluster.issuer}/healthz`);
    if (response.status === 200 && (await servedBy(response.headers.get('x-request-id')!)) === i) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`nginx sends nothing to instance ${i}`);
}

async function registeredUser(username: string, address: string): Promise<string> {
  const { parts } = the();
  const user = await parts.users.create({ username, password: `${username} first password` });
  await parts.store.sspr.putMethod(user.id, 'email', address, Date.now());
  await parts.store.sspr.recordConfirmation(user.id, Date.now());
  return user.id;
}

test.serial('a full sign-in through nginx is served by both instances, with nginx\'s request id on their log lines', async (t) => {
  const { rp } = the();
  const userId = await registeredUser('ines', 'ines.private@example.net');
  const browser = new TrackingBrowser();
  const { tokens } = await login(rp, 'ines', 'ines first password', {}, browser);
  t.is(tokens.claims()!.sub, userId);
  const info = await oidc.fetchUserInfo(rp, tokens.access_token, userId);
  t.is(info.sub, userId);
  t.true(browser.ids.length >= 4, `a real sign-in (${browser.ids.length} requests)`);
  t.true(browser.ids.every((id) => NGINX_ID.test(id)), `every answer carries nginx's id: ${browser.ids.join(' ')}`);
  const served = await Promise.all(browser.ids.map(servedBy));
  t.log(`sign-in: ${served.length} requests, A=${served.filter((s) => s === 0).length}, B=${served.filter((s) => s === 1).length}`);
  t.deepEqual([...new Set(served)].sort(), [0, 1], 'both instances served the sign-in');
  // Each instance has its own metrics listener (as logged at start); the one sign-in is counted once.
  const successes = await Promise.all(
    [0, 1].map(async (i) => {
      const url = /"url":"(http:\/\/127\.0\.0\.1:\d+\/metrics)"/.exec(the().cluster.output(i))?.[1];
      if (!url) throw new Error(`instance ${i} logged no metrics listener`);
      const text = await (await fetch(url)).text();
      return Number(/^oidc_sspr_logins_total\{result="success"\} (\d+)$/m.exec(text)?.[1] ?? 0);
    }),
  );
  t.is(successes[0]! + successes[1]!, 1, `sign-ins counted per instance: ${successes.join(', ')}`);
});

test.serial('an instance stopped (SIGTERM) in the middle of a sign-in: the flow goes on via the other one', async (t) => {
  const { rp, cluster } = the();
  const userId = await registeredUser('jonas', 'jonas.private@example.net');
  const browser = new TrackingBrowser();
  const auth = await authorizationRequest(rp);
  const form = await browser.navigate(auth.url.href);
  t.regex(form.html, /name="password"/);
  const victim = await servedBy(browser.ids.at(-1)!);
  const survivor = 1 - victim;
  try {
    t.is(await cluster.kill(victim, 'SIGTERM'), 0, 'a graceful stop');
    const from = browser.ids.length;
    const back = await signIn(browser, form, 'jonas', 'jonas first password');
    t.is(back.status, 0, `back at the client (last page: ${back.html.slice(0, 300)})`);
    const tokens = await redeem(rp, auth, back.url);
    t.is(tokens.claims()!.sub, userId);
    t.deepEqual(browser.statuses.slice(from).filter((s) => s >= 500), [], 'no 5xx from nginx or the survivor');
    t.deepEqual([...new Set(await Promise.all(browser.ids.slice(from).map(servedBy)))], [survivor], 'the rest went to the other instance');
    t.notRegex(cluster.output(survivor), /"level":50/);
  } finally {
    if (!cluster.alive(victim)) await cluster.restart(victim);
    await untilServing(victim);
  }
});

test.serial('a reset through nginx with an instance killed (SIGKILL) in the middle: the new password is set via the other one', async (t) => {
  const { rp, cluster } = the();
  const address = 'karin.private@example.net';
  const userId = await registeredUser('karin', address);
  const browser = new TrackingBrowser();
  const before = await lastMailId(the().parts, address);
  const identify = await browser.navigate(`${cluster.issuer}/reset`);
  const choices = await browser.submit(identify, '/reset', { username: 'karin' });
  t.regex(choices.html, /value="email"/);
  const codePage = await browser.submit(choices, '/reset/flow/method', { method: 'email' });
  t.regex(codePage.html, /\/reset\/flow\/answer/);
  const { code } = await mailTo(the().parts, address, before);
  const victim = await servedBy(browser.ids.at(-1)!);
  const survivor = 1 - victim;
  try {
    await cluster.kill(victim, 'SIGKILL');
    const from = browser.ids.length;
    const passwordPage = await browser.submit(codePage, '/reset/flow/answer', { code });
    t.regex(passwordPage.html, /Choose a new password/);
    const done = await browser.submit(passwordPage, '/reset/flow/password', { password: 'silver meadow lantern', confirm: 'silver meadow lantern' });
    t.regex(done.html, /Your password has been reset/);
    t.deepEqual(browser.statuses.slice(from).filter((s) => s >= 500), [], 'no 5xx');
    t.deepEqual([...new Set(await Promise.all(browser.ids.slice(from).map(servedBy)))], [survivor]);

    // Signing in with the new password works through nginx while the instance is still down.
    const { tokens } = await login(rp, 'karin', 'silver meadow lantern', {}, new TrackingBrowser());
    t.is(tokens.claims()!.sub, userId);
  } finally {
    if (!cluster.alive(victim)) await cluster.restart(victim);
    await untilServing(victim);
  }
  // Back up, the restarted instance serves its share again, and the old password is gone everywhere.
  const after = new TrackingBrowser();
  const auth = await authorizationRequest(rp);
  const old = await signIn(after, await after.navigate(auth.url.href), 'karin', 'karin first password');
  t.regex(old.html, /name="password"/, 'the old password is refused');
  t.deepEqual([...new Set(await Promise.all(after.ids.map(servedBy)))].sort(), [0, 1], 'both instances serve again');
});
