/** Discovery and every published URL come from server.issuer, whatever the Host header says (issue 13 #5). */
import test from 'ava';
import http from 'node:http';
import { startIdp, type RunningIdp } from './helpers/idp.ts';

let idp: RunningIdp;
test.before(async () => {
  idp = await startIdp({ config: { server: { trustProxy: true } } });
});
test.after.always(async () => {
  await idp?.close();
});

function get(path: string, headers: Record<string, string>): Promise<{ status: number; body: string; cache: string | undefined }> {
  const { port } = new URL(idp.url);
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, headers }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body, cache: res.headers['cache-control'] }));
    }).on('error', reject);
  });
}

test('a forged Host or X-Forwarded-Host changes no URL in discovery; discovery may be cached', async (t) => {
  for (const headers of [{ Host: 'evil.example' }, { 'X-Forwarded-Host': 'evil.example' }] as Record<string, string>[]) {
    const res = await get('/.well-known/openid-configuration', headers);
    t.is(res.status, 200);
    const doc = JSON.parse(res.body) as Record<string, unknown>;
    t.is(doc.issuer, idp.issuer);
    t.is(doc.token_endpoint, `${idp.issuer}/token`);
    t.false(res.body.includes('evil.example'), JSON.stringify(headers));
    t.is(res.cache, 'public, max-age=300');
  }
});
