/**
 * Render benchmark: a figure, not a test. Time per page of the Renderer (src/web/render.ts: a view
 * inside the layout), on fresh Koa contexts as requests would bring them, with warm template caches.
 *
 *   node_modules/.bin/node test/bench/render-bench.ts [--pages 3000] [--rounds 5]
 *
 * Renderers to compare can be named as modules exporting createRenderer: `--renderer src/web/x.ts`.
 */
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import Koa from 'koa';
import type { Renderer } from '../../src/web/render.ts';

const args = process.argv.slice(2);
const option = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : fallback;
};
const pages = Number(option('pages', '3000'));
const rounds = Number(option('rounds', '5'));
const modules = args.flatMap((a, i) => (args[i - 1] === '--renderer' ? [a] : []));
if (!modules.length) modules.push('src/web/render.ts');

const app = new Koa();
app.keys = ['bench key'];
const site = () => ({ organisation: 'Example', logoUrl: undefined, defaultLocale: 'en' as const, basePath: '/idp' });
const freshCtx = () => {
  const req = new http.IncomingMessage(new net.Socket());
  req.url = '/idp/reset?lang=nl';
  req.method = 'GET';
  req.headers = { host: '127.0.0.1', 'accept-language': 'nl' };
  return app.createContext(req, new http.ServerResponse(req));
};
// The identify page (with the CAPTCHA widget) and the error page: a form and the simplest page.
const samples: [string, Record<string, unknown>][] = [
  ['recover/identify', { title: 'recover.title', action: '/idp/reset', csrf: 'x'.repeat(43), captcha: true, challengeUrl: '/idp/reset/captcha', returnTo: '', username: 'someone', error: 'recover.captcha_failed' }],
  ['error', { title: 'error.title', code: 'not_found', messageId: 'error.not_found' }],
];

const renderers: [string, Renderer][] = [];
for (const file of modules) {
  const mod = (await import(pathToFileURL(path.resolve(file)).href)) as { createRenderer: (s: typeof site) => Renderer };
  renderers.push([file, mod.createRenderer(site)]);
}
const times = new Map<string, number[]>(renderers.map(([name]) => [name, []]));
for (const [, render] of renderers) for (const [view, locals] of samples) await render(freshCtx(), view, locals); // warm caches
// Rounds alternate between the renderers, so other load on the machine disturbs them alike.
for (let round = 0; round < rounds; round += 1) {
  for (const [name, render] of renderers) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < pages; i += 1) {
      const [view, locals] = samples[i % samples.length]!;
      await render(freshCtx(), view, locals);
    }
    times.get(name)!.push(Number(process.hrtime.bigint() - start) / 1000 / pages);
  }
}
for (const [name, list] of times) {
  const sorted = [...list].sort((a, b) => a - b);
  console.log(`${name}: median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(1)} µs/page, best ${sorted[0]!.toFixed(1)} µs/page over ${rounds} rounds of ${pages} pages`);
}
