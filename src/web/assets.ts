/** Serves the IdP's own static files (CSS) from views/assets, and the CAPTCHA widget's files (see captchaAsset). */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Middleware } from 'koa';
import { captchaAsset } from '../security/captcha.ts';

const TYPES: Record<string, string> = { '.css': 'text/css; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.svg': 'image/svg+xml' };

export function assets(dir: string): Middleware {
  const cache = new Map<string, Buffer>();
  return async (ctx, next) => {
    const match = /^\/assets\/([a-z0-9-]+\.(css|js|svg))$/.exec(ctx.path);
    if (!match || (ctx.method !== 'GET' && ctx.method !== 'HEAD')) return next();
    const file = match[1]!;
    let content = cache.get(file);
    if (!content) {
      try {
        content = (await captchaAsset(file)) ?? (await readFile(path.join(dir, file)));
      } catch {
        return next();
      }
      cache.set(file, content);
    }
    ctx.type = TYPES[path.extname(file)]!;
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.body = content;
  };
}
