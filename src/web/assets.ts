/**
 * Serves the IdP's own static files (CSS) from views/assets, the CAPTCHA widget's files (see
 * captchaAsset), the WebAuthn browser library (see passkeyAsset), and the organisation's logo file when `ui.logoFile` is set (see logo.ts).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Middleware } from 'koa';
import { captchaAsset } from '../security/captcha.ts';
import { passkeyAsset } from '../methods/passkey/browser-asset.ts';
import { logoAssetPath, readLogo, type Logo } from './logo.ts';

const TYPES: Record<string, string> = { '.css': 'text/css; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.svg': 'image/svg+xml' };

export interface AssetOptions {
  /** The configured logo file (live configuration), if any. */
  logoFile?: () => string | undefined;
  /** Where relative logo paths start (the working directory by default). */
  cwd?: string;
}

export function assets(dir: string, options: AssetOptions = {}): Middleware {
  const cache = new Map<string, Buffer>();
  const logos = new Map<string, Promise<Logo>>();
  return async (ctx, next) => {
    const logoFile = options.logoFile?.();
    if (logoFile && ctx.path === logoAssetPath(logoFile) && (ctx.method === 'GET' || ctx.method === 'HEAD')) {
      let pending = logos.get(logoFile);
      if (!pending) logos.set(logoFile, (pending = readLogo(logoFile, options.cwd)));
      const logo = await pending.catch(() => undefined);
      if (!logo) {
        logos.delete(logoFile);
        return next();
      }
      ctx.type = logo.type;
      // An SVG opened on its own must not run anything on this origin.
      ctx.set('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; img-src data:");
      ctx.set('Cache-Control', 'public, max-age=3600');
      ctx.body = logo.content;
      return;
    }
    const match = /^\/assets\/([a-z0-9-]+\.(css|js|svg))$/.exec(ctx.path);
    if (!match || (ctx.method !== 'GET' && ctx.method !== 'HEAD')) return next();
    const file = match[1]!;
    let content = cache.get(file);
    if (!content) {
      try {
        content = (await captchaAsset(file)) ?? (await passkeyAsset(file)) ?? (await readFile(path.join(dir, file)));
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
