/**
 * `server.trustProxy` with `server.proxyHops`: the client address is taken from the right of
 * X-Forwarded-For, so entries a client writes itself (to the left) change nothing. Through a real
 * appending proxy (Debian's nginx) forged first entries still get throttled and the audit shows the
 * real address; straight to the server, the rightmost entry is the client.
 */
import test from 'ava';
import { startIdp, type RunningIdp } from './helpers/idp.ts';
import { startNginx, type Nginx } from './helpers/nginx.ts';
import { Browser, formWith, type Page } from './helpers/browser.ts';
import { parseConfig } from '../src/config/load.ts';

const LIMIT = 3;
let idp: RunningIdp;
let nginx: Nginx;

test.before(async () => {
  idp = await startIdp({
    config: {
      server: { trustProxy: true },
      throttle: { signinPerIp: LIMIT, resetPerIp: LIMIT },
      sspr: { enabled: 'all', captcha: { enabled: false } },
    },
  });
  await idp.idp.parts.users.create({ username: 'pia', password: 'pia password 123' });
  nginx = await startNginx([{ port: Number(new URL(idp.url).port) }]);
});
test.after.always(async () => {
  await nginx?.close();
  await idp?.close();
});

const audit = (type: string) => idp.idp.parts.store.audit.list({ type });

/** A wrong password at /security-info (the same per-IP count as the login page), sending `xff`. */
async function wrongPassword(base: string, xff: string): Promise<Page> {
  const browser = new Browser();
  const page = await browser.request(`${base}/security-info`, { headers: { 'X-Forwarded-For': xff } });
  const form = formWith(page, '/security-info/login');
  return browser.request(new URL(form.action, page.url).href, { headers: { 'X-Forwarded-For': xff }, form: { ...form.fields, username: 'pia', password: 'wrong password 1' } });
}

async function startReset(base: string, xff: string): Promise<Page> {
  const browser = new Browser();
  const page = await browser.request(`${base}/reset`, { headers: { 'X-Forwarded-For': xff } });
  const form = formWith(page, '/reset');
  return browser.request(new URL(form.action, page.url).href, { headers: { 'X-Forwarded-For': xff }, form: { ...form.fields, username: 'pia' } });
}

test.serial('through nginx, rotating forged first X-Forwarded-For entries: sign-in failures are throttled and audited at the real address', async (t) => {
  for (let i = 0; i < LIMIT + 3; i += 1) await wrongPassword(nginx.url, `203.0.113.${i + 1}`);
  const events = (await audit('signin.failure')).filter((e) => e.details?.via === 'security-info');
  t.is(events.length, LIMIT + 3);
  t.deepEqual([...new Set(events.map((e) => e.ip))], ['127.0.0.1'], 'the address nginx saw, not the forged ones');
  t.is(events.filter((e) => e.details?.reason === 'ip_throttled').length, 3, 'past signinPerIp the address is throttled');
});

test.serial('through nginx, rotating forged first entries: reset starts are throttled per real address', async (t) => {
  const statuses: number[] = [];
  for (let i = 0; i < LIMIT + 2; i += 1) statuses.push((await startReset(nginx.url, `198.51.100.${i + 1}`)).status);
  t.deepEqual(statuses, [...Array(LIMIT).fill(303), 429, 429]);
  const started = await audit('sspr.reset.started');
  t.is(started.length, LIMIT);
  t.deepEqual([...new Set(started.map((e) => e.ip))], ['127.0.0.1']);
});

test.serial('straight to the server with proxyHops 1: the rightmost X-Forwarded-For entry is the client', async (t) => {
  await wrongPassword(idp.url, '192.0.2.66, 192.0.2.77');
  const last = (await audit('signin.failure')).at(-1)!;
  t.is(last.ip, '192.0.2.77');
});

test('proxyHops is in the schema: 1 by default, 1–10', async (t) => {
  t.is(parseConfig({}).server.proxyHops, 1);
  t.is(parseConfig({ server: { trustProxy: true, proxyHops: 2 } }).server.proxyHops, 2);
  t.throws(() => parseConfig({ server: { proxyHops: 0 } }), { message: /server\.proxyHops/ });
  t.throws(() => parseConfig({ server: { proxyHops: 11 } }), { message: /server\.proxyHops/ });
});
