/** Renders a page: the view inside the shared layout, with the translator and site details. */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ejs from 'ejs';
import type { Context } from 'koa';
import { chooseLocale, translator, locales, type Locale, type Translate } from '../i18n/index.ts';
import { requestIdOf } from './request-id.ts';

/** Directory of the EJS views shipped with oidc-sspr. */
export const viewsDir = fileURLToPath(new URL('../../views/', import.meta.url));

export interface SiteInfo {
  organisation: string;
  logoUrl: string | undefined;
  defaultLocale: Locale;
  /** External path prefix of the IdP ('' at the root). */
  basePath: string;
}

export interface PageOptions {
  status?: number;
  /** Where the language switcher's links point; the current page when left out. */
  uiLocales?: string;
}

export const LOCALE_COOKIE = 'oidc_sspr_lang';

export function localeOf(ctx: Context, site: SiteInfo, uiLocales?: string): Locale {
  const fromQuery = typeof ctx.query.lang === 'string' ? ctx.query.lang : undefined;
  return chooseLocale(
    {
      uiLocales: fromQuery ?? uiLocales,
      cookie: ctx.cookies.get(LOCALE_COOKIE),
      acceptLanguage: ctx.get('Accept-Language'),
    },
    site.defaultLocale,
  );
}

/**
 * The page's own path for the language links, always on this site: the base path and the path
 * under it with every run of slashes or backslashes made one slash. The raw request target could be
 * `//evil.example/x` or `http://evil.example/x`, which a browser would follow off-site.
 */
export function pagePath(basePath: string, path: string): string {
  return `${basePath}/${path.replace(/[/\\]+/g, '/').replace(/^\//, '')}`;
}

export type Renderer = (ctx: Context, view: string, locals: Record<string, unknown>, options?: PageOptions) => Promise<void>;

export function createRenderer(site: () => SiteInfo, dir: string = viewsDir): Renderer {
  // Compiled templates are kept, except in development where views are edited live.
  const opts = { cache: process.env.NODE_ENV !== 'development', async: true, root: dir } as const;
  return async (ctx, view, locals, options = {}) => {
    const info = site();
    const locale = localeOf(ctx, info, options.uiLocales);
    const t: Translate = translator(locale);
    const shared = {
      t,
      locale,
      locales,
      site: info,
      asset: (file: string) => `${info.basePath}/assets/${file}`,
      currentPath: pagePath(info.basePath, ctx.path),
      // Shown on error pages, so a screenshot finds the log line.
      requestId: requestIdOf(ctx),
      title: '',
      ...locals,
    };
    const body = await ejs.renderFile(path.join(dir, `${view}.ejs`), shared, opts);
    const html = await ejs.renderFile(path.join(dir, 'layout.ejs'), { ...shared, body }, opts);
    ctx.status = options.status ?? 200;
    ctx.type = 'html';
    ctx.body = html;
  };
}
