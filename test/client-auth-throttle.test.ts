import test from 'ava';
import { startIdp, type RunningIdp } from './helpers/idp.ts';
import { discover, login, oidc } from './helpers/rp.ts';

const SECRET = 'confidential-app-secret-0123456789';
const POST_SECRET = 'third-party-app-secret-0123456789';

interface Answer {
  status: number;
  error?: string;
  description?: string;
  retryAfter: string | null;
}

/** A raw refresh_token grant: the bogus token makes a correctly authenticated client get invalid_grant. */
async function tokenPost(idp: RunningIdp, clientId: string, secret: string, how: 'basic' | 'post' = 'basic', forwardedFor?: string): Promise<Answer> {
  const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'not-a-real-token' });
  const headers: Record<string, string> = { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' };
  if (how === 'basic') headers.Authorization = `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`;
  else form.set('client_id', clientId), form.set('client_secret', secret);
  if (forwardedFor) headers['X-Forwarded-For'] = forwardedFor;
  const response = await fetch(`${idp.issuer}/token`, { method: 'POST', headers, body: form.toString() });
  const body = (await response.json()) as { error?: string; error_description?: string };
  return { status: response.status, error: body.error, description: body.error_description, retryAfter: response.headers.get('retry-after') };
}

test('wrong client secrets are throttled per client id: past the limit even the right secret gets 429 invalid_client; other clients are not affected', async (t) => {
  const idp = await startIdp({ config: { throttle: { clientAuthPerClient: 3, clientAuthPerIp: 1000, clientAuthWindowSeconds: 600 } } });
  try {
    // Right secrets don't count.
    for (let i = 0; i < 5; i++) t.is((await tokenPost(idp, 'confidential-app', SECRET)).error, 'invalid_grant', 'authenticated, bogus refresh token');
    for (let i = 0; i < 3; i++) t.like(await tokenPost(idp, 'confidential-app', `wrong-secret-${i}`), { status: 401, error: 'invalid_client' });
    const over = await tokenPost(idp, 'confidential-app', 'wrong-secret-x');
    t.like(over, { status: 429, error: 'invalid_client' });
    t.regex(over.description ?? '', /too many/);
    t.true(Number(over.retryAfter) > 0 && Number(over.retryAfter) <= 600, `Retry-After ${over.retryAfter}`);
    t.like(await tokenPost(idp, 'confidential-app', SECRET), { status: 429, error: 'invalid_client' }, 'the right secret is not even checked');
    t.is((await tokenPost(idp, 'third-party-app', POST_SECRET, 'post')).error, 'invalid_grant', 'another client still authenticates');

    const events = await idp.idp.parts.store.audit.list({ type: 'client.auth_failure' });
    t.is(events.filter((e) => (e.details as { reason?: string } | null)?.reason === 'invalid_secret').length, 3);
    t.is(events.filter((e) => (e.details as { reason?: string } | null)?.reason === 'throttled').length, 2);
    t.true(events.every((e) => e.clientId === 'confidential-app' && e.ip === '127.0.0.1'));
    const stored = JSON.stringify(events);
    t.false(stored.includes('wrong-secret') || stored.includes(SECRET), 'no secret in the audit');
  } finally {
    await idp.close();
  }
});

test('parallel wrong secrets: exactly the limit are checked, the rest get 429', async (t) => {
  const idp = await startIdp({ config: { throttle: { clientAuthPerClient: 4, clientAuthPerIp: 1000, clientAuthWindowSeconds: 600 } } });
  try {
    const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => tokenPost(idp, 'third-party-app', `guess-${i}`, 'post')));
    t.is(answers.filter((a) => a.status === 401).length, 4);
    t.is(answers.filter((a) => a.status === 429 && a.error === 'invalid_client').length, 8);
  } finally {
    await idp.close();
  }
});

test('wrong client secrets are throttled per IP address across clients; introspection counts too; the OIDC flow still works under the limit', async (t) => {
  const idp = await startIdp({
    config: { server: { trustProxy: true, proxyHops: 1 }, throttle: { clientAuthPerClient: 1000, clientAuthPerIp: 3, clientAuthWindowSeconds: 600 } },
  });
  try {
    await idp.idp.parts.users.create({ username: 'dana', password: 'dana password 123' });
    const attacker = '203.0.113.7';
    t.is((await tokenPost(idp, 'confidential-app', 'nope-1', 'basic', attacker)).status, 401);
    t.is((await tokenPost(idp, 'third-party-app', 'nope-2', 'post', attacker)).status, 401);
    const introspect = await fetch(`${idp.issuer}/token/introspection`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json', 'X-Forwarded-For': attacker, Authorization: `Basic ${Buffer.from('confidential-app:nope-3').toString('base64')}` },
      body: 'token=x',
    });
    t.is(introspect.status, 401);
    t.like(await tokenPost(idp, 'third-party-app', POST_SECRET, 'post', attacker), { status: 429, error: 'invalid_client' }, 'the address is over its limit, whichever client');
    t.is((await tokenPost(idp, 'third-party-app', POST_SECRET, 'post', '198.51.100.2')).error, 'invalid_grant', 'another address is not');

    // A real sign-in, refresh and revocation from an address under the limit.
    const config = await discover({ issuer: idp.issuer, clientId: 'confidential-app', clientSecret: SECRET });
    const { tokens } = await login(config, 'dana', 'dana password 123', { scope: 'openid offline_access', prompt: 'consent' });
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
    t.truthy(refreshed.access_token);
    await oidc.tokenRevocation(config, refreshed.refresh_token!);
    await t.throwsAsync(oidc.refreshTokenGrant(config, refreshed.refresh_token!));
  } finally {
    await idp.close();
  }
});
