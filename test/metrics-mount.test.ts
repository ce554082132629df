/**
 * Metrics in a host app that mounts the IdP's parts: the host puts `parts.httpMetrics.timing` in
 * front and serves `parts.httpMetrics.endpoint`; a real sign-in by openid-client and a wrong
 * password move the counters, the latency histogram is labelled by route pattern (the IdP's under
 * its mount path, the host's own router by its own pattern), no user name or address is a label
 * value, and the bearer token is enforced.
 */
import test from 'ava';
import Router from '@koa/router';
import type { Middleware } from 'koa';
import { startHost, type MountedHost } from './helpers/host.ts';
import { discover, authorizationRequest, newBrowser, signIn, login, oidc } from './helpers/rp.ts';
import { scrape, moved, labelValues, requests } from './helpers/metrics.ts';

const TOKEN = 'host-metrics-token-0123456789';
const CLIENT = { clientId: 'confidential-app', clientSecret: 'confidential-app-secret-0123456789' };

let host: MountedHost;
let rp: oidc.Configuration;

test.before(async () => {
  host = await startHost({
    config: { metrics: { enabled: true, token: TOKEN } },
    before: (app, parts) => {
      const metrics = parts.httpMetrics;
      if (!metrics) throw new Error('metrics.enabled gives the host its metrics middleware');
      app.use(metrics.timing);
      app.use(metrics.endpoint);
      // A route of the host's own: its pattern is its label, without the IdP's prefix.
      const router = new Router();
      router.get('/hello/:name', (ctx) => {
        ctx.body = `hello ${ctx.params.name}`;
      });
      app.use(router.routes() as Middleware);
    },
  });
  rp = await discover({ issuer: host.issuer, ...CLIENT });
  await host.parts.users.create({ username: 'quentin', email: 'quentin.private@example.net', password: 'quentin password 1' });
});

test.after.always(async () => {
  await host?.close();
});

test.serial('a real sign-in and a wrong password through the mounted IdP move the counters; routes are labelled by pattern', async (t) => {
  const before = (await scrape(host.origin, TOKEN)).series;

  const { tokens } = await login(rp, 'quentin', 'quentin password 1');
  t.is(tokens.claims()?.iss, host.issuer);
  const browser = newBrowser();
  const form = await browser.navigate((await authorizationRequest(rp)).url.href);
  const wrong = await signIn(browser, form, 'quentin', 'not his password 123');
  t.regex(wrong.html, /name="password"/);
  t.is(await (await fetch(`${host.origin}/hello/zoe`)).text(), 'hello zoe');
  t.is((await fetch(`${host.origin}/idp/assets/site.css`)).status, 200);

  const { text, series: after } = await scrape(host.origin, TOKEN);
  t.deepEqual(moved(before, after, ['oidc_sspr_logins_total{result="success"}', 'oidc_sspr_logins_total{result="wrong_password"}']), {
    'oidc_sspr_logins_total{result="success"}': 1,
    'oidc_sspr_logins_total{result="wrong_password"}': 1,
  });
  // The IdP's routes by their pattern under the mount path: the interaction router's and oidc-provider's.
  t.is(requests(after, 'method="POST"', 'route="/idp/interaction/:uid/login"') - requests(before, 'method="POST"', 'route="/idp/interaction/:uid/login"'), 2);
  t.is(requests(after, 'method="POST"', 'route="/idp/token"', 'status="200"') - requests(before, 'method="POST"', 'route="/idp/token"', 'status="200"'), 1);
  t.is(requests(after, 'method="GET"', 'route="/idp/auth"', 'status="303"') - requests(before, 'method="GET"', 'route="/idp/auth"', 'status="303"'), 2);
  t.is(requests(after, 'route="/idp/assets/*"') - requests(before, 'route="/idp/assets/*"'), 1);
  // The host's route by its own pattern; the scrape before this one by the endpoint's path.
  t.is(requests(after, 'method="GET"', 'route="/hello/:name"', 'status="200"') - requests(before, 'method="GET"', 'route="/hello/:name"', 'status="200"'), 1);
  t.true(requests(after, 'method="GET"', 'route="/metrics"', 'status="200"') >= 1);

  const values = labelValues(text);
  t.true(values.length > 20);
  t.false(values.some((v) => /^\/idp\/interaction\/(?!:uid)/.test(v)), 'no raw interaction path as a route');
  t.false(values.some((v) => v.startsWith('/idp/hello') || v.startsWith('/idp/metrics')), "the IdP's prefix is only on the IdP's routes");
  const user = await host.parts.users.find('quentin');
  const personal = ['quentin', 'quentin.private@example.net', 'zoe', '/hello/zoe', '127.0.0.1', user!.id];
  t.deepEqual(values.filter((v) => personal.some((p) => v.includes(p))), []);
  // prom-client's process defaults.
  t.regex(text, /^process_cpu_user_seconds_total /m);
});

test('the bearer token is enforced on the host\'s /metrics', async (t) => {
  const none = await fetch(`${host.origin}/metrics`);
  t.is(none.status, 401);
  t.regex(none.headers.get('www-authenticate') ?? '', /^Bearer/);
  t.notRegex(await none.text(), /oidc_sspr_/);
  for (const header of [`Bearer ${TOKEN}x`, 'Bearer ', TOKEN]) {
    const refused = await fetch(`${host.origin}/metrics`, { headers: { Authorization: header } });
    t.is(refused.status, 401, header);
    t.notRegex(await refused.text(), /oidc_sspr_/);
  }
  const ok = await fetch(`${host.origin}/metrics`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  t.is(ok.status, 200);
  t.regex(ok.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  t.regex(await ok.text(), /^oidc_sspr_logins_total/m);
});

test('the endpoint answers only GET and HEAD at /metrics: other requests go on to the host', async (t) => {
  t.is((await fetch(`${host.origin}/metrics`, { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}` } })).status, 404);
  t.is((await fetch(`${host.origin}/metrics/x`, { headers: { Authorization: `Bearer ${TOKEN}` } })).status, 404);
  const head = await fetch(`${host.origin}/metrics`, { method: 'HEAD', headers: { Authorization: `Bearer ${TOKEN}` } });
  t.is(head.status, 200);
});
