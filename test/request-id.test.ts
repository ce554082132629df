/**
 * The request id: in the X-Request-Id response header, on the log lines about the request, and on
 * the error pages (404, 500, a catalogue error, oidc-provider's own error page), the same value
 * everywhere; a sent X-Request-Id is used only behind a trusted proxy and only when well-formed.
 */
import test from 'ava';
import http from 'node:http';
import { startIdp, buildConfig, listen, closeServer } from './helpers/idp.ts';
import { freshDatabase } from './helpers/db.ts';
import { createLogger } from '../src/logging.ts';
import { createIdp } from '../src/app.ts';
import { openDatabase } from '../src/store/db.ts';
import { isWellFormedRequestId } from '../src/web/request-id.ts';
import { Browser } from './helpers/browser.ts';

interface LogLine {
  msg: string;
  requestId?: string;
  path?: string;
  level: number;
}

function capture(): { lines: LogLine[]; logger: ReturnType<typeof createLogger> } {
  const lines: LogLine[] = [];
  return { lines, logger: createLogger('debug', { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) }) };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The reference shown on an error page. */
function shownId(html: string): string | undefined {
  return /Reference for the helpdesk: ([^<]+)</.exec(html)?.[1];
}

test('a 404 page, a refused form and oidc-provider\'s error page each show the id of the header and of the log lines', async (t) => {
  const { lines, logger } = capture();
  const idp = await startIdp({ logger, config: { sspr: { enabled: 'all', captcha: { enabled: false } } } });
  try {
    // 404
    const missing = await fetch(`${idp.url}/no-such-page`, { headers: { Accept: 'text/html' } });
    t.is(missing.status, 404);
    const id404 = missing.headers.get('x-request-id')!;
    t.regex(id404, UUID, 'generated');
    t.is(shownId(await missing.text()), id404);
    const requestLine = lines.find((l) => l.msg === 'request' && l.path === '/no-such-page');
    t.is(requestLine?.requestId, id404, 'the request log line carries the id on the page');

    // An error of the catalogue: a form posted without its CSRF token (csrf_invalid, 403).
    const refused = await fetch(`${idp.url}/reset`, { method: 'POST', headers: { Accept: 'text/html', 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'username=x' });
    t.is(refused.status, 403);
    const idRefused = refused.headers.get('x-request-id')!;
    const html = await refused.text();
    t.regex(html, /Error code: csrf_invalid/);
    t.is(shownId(html), idRefused);
    t.is(lines.find((l) => l.msg === 'request refused' && l.requestId === idRefused)?.path, '/reset');
    t.not(idRefused, id404, 'every request its own id');

    // oidc-provider's error page (renderError): an unknown client.
    const oidcError = await fetch(`${idp.url}/auth?client_id=nobody&response_type=code&scope=openid&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcallback`);
    t.is(oidcError.status, 400);
    t.is(shownId(await oidcError.text()), oidcError.headers.get('x-request-id')!);

    // Dutch pages say it in Dutch.
    const nl = await fetch(`${idp.url}/no-such-page?lang=nl`, { headers: { Accept: 'text/html' } });
    t.regex(await nl.text(), new RegExp(`Kenmerk voor de helpdesk: ${nl.headers.get('x-request-id')}`));
  } finally {
    await idp.close();
  }
});

test('a 500 page shows the id of the "request failed" error log line', async (t) => {
  const { lines, logger } = capture();
  const db = await freshDatabase();
  const server = http.createServer();
  const port = await listen(server);
  const config = buildConfig(`http://127.0.0.1:${port}`, db, { sspr: { enabled: 'all', captcha: { enabled: false } } });
  const knex = openDatabase(config.database);
  const idp = await createIdp(config, { logger, knex });
  server.on('request', idp.app.callback());
  try {
    const browser = new Browser();
    const form = await browser.navigate(`http://127.0.0.1:${port}/reset`);
    // The connection pool is gone under the running IdP: every statement fails, not as an outage.
    await knex.destroy();
    const failed = await browser.submit(form, '/reset', { username: 'someone' });
    t.is(failed.status, 500);
    const id = failed.headers.get('x-request-id')!;
    const html = failed.html;
    t.regex(html, /Error code: server_error/);
    t.is(shownId(html), id);
    const errorLine = lines.find((l) => l.msg === 'request failed');
    t.is(errorLine?.level, 50);
    t.is(errorLine?.requestId, id);
    t.notRegex(html, /at .*\.ts:\d+/, 'no stack trace on the page');
  } finally {
    await closeServer(server);
    await idp.close();
    await db.cleanup();
  }
});

test('a sent X-Request-Id is used behind a trusted proxy when well-formed, never otherwise', async (t) => {
  const trusted = await startIdp({ config: { server: { trustProxy: true } } });
  const direct = await startIdp();
  try {
    const get = (url: string, id: string) => fetch(`${url}/no-such-page`, { headers: { Accept: 'text/html', 'X-Request-Id': id } });
    const nginxId = 'f3b2a9c04d1e4b6a8c7d9e0f1a2b3c4d';
    const kept = await get(trusted.url, nginxId);
    t.is(kept.headers.get('x-request-id'), nginxId);
    t.is(shownId(await kept.text()), nginxId);
    for (const bad of ['short', 'has spaces in it', '<script>alert(1)</script>', 'a'.repeat(129), '-leading-dash-id']) {
      const replaced = await get(trusted.url, bad);
      t.regex(replaced.headers.get('x-request-id')!, UUID, `"${bad.slice(0, 20)}" is replaced`);
      t.false((await replaced.text()).includes(bad));
    }
    const untrusted = await get(direct.url, nginxId);
    t.regex(untrusted.headers.get('x-request-id')!, UUID, 'without trustProxy the header is not taken');
  } finally {
    await trusted.close();
    await direct.close();
  }
  t.true(isWellFormedRequestId('0f8fad5b-d9cb-469f-a165-70867728950e'));
  t.false(isWellFormedRequestId(''));
});
