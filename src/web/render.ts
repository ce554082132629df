/** Renders a page: the view inside the shared layout, with the translator and site details (koa-views + ejs). */
import { fileURLToPath } from 'node:url';
import ejs from 'ejs';
import views from 'koa-views';
import type { Context } from 'koa';
import { chooseLocale, translator, locales, type Locale, type Translate } from '../i18n/index.ts';

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

/** The ejs engine koa-views calls: locals are data only, never ejs options (consolidate would mix them). */
function ejsEngine(dir: string) {
  // Compiled templates are kept, except in development where views are edited live.
  const options = { cache: process.env.NODE_ENV !== 'development', async: true, root: dir } as const;
  return { ejs: (file: string, locals: Record<string, unknown>): Promise<string> => ejs.renderFile(file, locals, options) };
}

/** ctx.render as koa-views attaches it, with autoRender off: it gives the HTML instead of sending it. */
type RenderView = (view: string, locals: Record<string, unknown>) => Promise<string>;

/**
 * Renders through koa-views (views/, ejs). It is attached to each request's ctx when a page is
 * rendered, not as app middleware, so the pages oidc-provider renders itself (renderError,
 * logoutSource: another Koa app's ctx) go through the same code.
 */
export function createRenderer(site: () => SiteInfo, dir: string = viewsDir): Renderer {
  const attach = views(dir, { extension: 'ejs', autoRender: false, engineSource: ejsEngine(dir) });
  const viewOf = async (ctx: Context): Promise<RenderView> => {
    if (typeof ctx.render !== 'function') await attach(ctx, async () => {});
    return ctx.render as unknown as RenderView;
  };
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
      title: '',
      ...locals,
    };
    const render = await viewOf(ctx);
    // With the extension given, koa-views finds the file with one stat, not two.
    const body = await render(`${view}.ejs`, shared);
    const html = await render('layout.ejs', { ...shared, body });
    ctx.status = options.status ?? 200;
    ctx.type = 'html';
    ctx.body = html;
  };
}
