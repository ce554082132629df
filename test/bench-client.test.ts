/**
 * The bench's relying-party HTTP client (test/bench/lib/keep-alive-fetch.ts) answers as fetch does
 * for what the bench sends: redirects not followed, every Set-Cookie kept, form bodies, no-body
 * statuses, and it reuses its connection.
 */
import test from 'ava';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { keepAliveFetch, closeKeepAlive } from './bench/lib/keep-alive-fetch.ts';

async function withServer(run: (base: string, connections: () => number) => Promise<void>) {
  let connections = 0;
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      if (req.url === '/redirect') {
        res.writeHead(303, { Location: '/next', 'Set-Cookie': ['a=1; Path=/', 'b=2; Path=/x; HttpOnly'] }).end();
      } else if (req.url === '/echo') {
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ method: req.method, type: req.headers['content-type'] ?? null, cookie: req.headers.cookie ?? null, body }));
      } else if (req.url === '/empty') {
        res.writeHead(204).end();
      } else {
        res.writeHead(404, { 'Content-Type': 'text/plain' }).end('nothing here: ünïcode');
      }
    });
  });
  server.on('connection', () => (connections += 1));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    await run(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, () => connections);
  } finally {
    closeKeepAlive();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

test('answers like fetch: redirect not followed, cookies, form body, 204, text', async (t) => {
  await withServer(async (base) => {
    for (const client of [keepAliveFetch, (url: string, init?: RequestInit) => fetch(url, { ...init, redirect: 'manual' })]) {
      const redirect = await client(`${base}/redirect`);
      t.is(redirect.status, 303);
      t.is(redirect.headers.get('location'), '/next');
      t.deepEqual(redirect.headers.getSetCookie(), ['a=1; Path=/', 'b=2; Path=/x; HttpOnly']);

      const echo = await client(`${base}/echo`, { method: 'POST', headers: { Cookie: 'a=1', 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'user=ana&pw=r%C3%A9' });
      t.deepEqual(await echo.json(), { method: 'POST', type: 'application/x-www-form-urlencoded', cookie: 'a=1', body: 'user=ana&pw=r%C3%A9' });

      const form = await client(`${base}/echo`, { method: 'POST', body: new URLSearchParams({ grant_type: 'authorization_code', code: 'x y' }) });
      const sent = (await form.json()) as { type: string; body: string };
      t.regex(sent.type, /^application\/x-www-form-urlencoded/);
      t.is(sent.body, 'grant_type=authorization_code&code=x+y');

      const empty = await client(`${base}/empty`);
      t.is(empty.status, 204);
      t.is(await empty.text(), '');

      const missing = await client(`${base}/missing`);
      t.is(missing.status, 404);
      t.is(await missing.text(), 'nothing here: ünïcode');
    }
  });
});

test('keeps one connection for requests one after the other', async (t) => {
  await withServer(async (base, connections) => {
    for (let i = 0; i < 5; i += 1) t.is((await keepAliveFetch(`${base}/empty`)).status, 204);
    t.is(connections(), 1);
  });
});

test('refuses what it does not do instead of sending something else', async (t) => {
  await t.throwsAsync(keepAliveFetch('https://127.0.0.1:1/'), { message: /https: is not supported/ });
  await t.throwsAsync(keepAliveFetch('http://127.0.0.1:1/', { method: 'POST', body: new Blob(['x']) }), { message: /unsupported body/ });
});
