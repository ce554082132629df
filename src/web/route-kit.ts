/**
 * The route kit: what every page route needs besides its service, made once for the IdP. The posted
 * form with its CSRF check, the IdP's own cookies, the page's language, the 303 after a post, and
 * the mapping of an AppError (src/errors.ts: code → status, messageId) to the page that explains it
 * instead of the error page. Routes stay thin: read, call the service, render or redirect.
 */
import { randomBytes } from 'node:crypto';
import type { Context, Middleware } from 'koa';
import { AppError, type ErrorCode } from '../errors.ts';
import { readForm, type Form } from '../security/form.ts';
import type { Csrf } from '../security/csrf.ts';
import { translator, type Locale, type Translate } from '../i18n/index.ts';
import { localeOf, type SiteInfo } from './render.ts';

/** A cookie of this IdP, scoped to one flow's path. */
export interface FlowCookie {
  get(ctx: Context): string | undefined;
  set(ctx: Context, value: string, maxAgeMs: number): void;
  clear(ctx: Context): void;
  /**
   * A random per-browser value kept in this cookie (an hour), so forms shown before there is a
   * session (the security-info sign-in, the first reset page) carry a CSRF token bound to this browser.
   */
  browserId(ctx: Context): string;
}

/** Which AppErrors a page explains itself: a list of codes, or a test (e.g. every 409 refusal). */
export type ErrorMatch = readonly ErrorCode[] | ((error: AppError) => boolean);

export interface RouteKit {
  csrf: Csrf;
  site(): SiteInfo;
  /** Reads the posted form and checks its CSRF token for this flow and purpose (403 csrf_invalid otherwise). */
  form(ctx: Context, flowId: string, purpose: string): Promise<Form>;
  /** The cookie `name` under `<basePath><under>`: httpOnly, SameSite=Lax, Secure over HTTPS, unsigned. */
  cookie(name: string, under: string): FlowCookie;
  /** The page's language (ui_locales of the flow, ?lang, cookie, Accept-Language, default) and its translator. */
  language(ctx: Context, uiLocales?: string): { locale: Locale; t: Translate };
  /** 303 See Other: after a post the browser GETs `url`. */
  seeOther(ctx: Context, url: string): void;
  /**
   * Runs `action`; an AppError that `match` names is shown by `page` (which gets the error's status
   * and message id from the catalogue) and gives undefined. Any other error goes on to the error page.
   */
  attempt<T>(action: () => Promise<T>, match: ErrorMatch, page: (error: AppError) => Promise<void>): Promise<{ value: T } | undefined>;
  /** The same as middleware, for every route of a router. */
  explain(match: ErrorMatch, page: (ctx: Context, error: AppError) => Promise<void>): Middleware;
}

/** Every refusal of a change (409 in the catalogue: too few methods, no skips left, ...). */
export const refusals = (error: AppError): boolean => error.status === 409;

const BROWSER_ID = /^[A-Za-z0-9_-]{43}$/;

function matches(match: ErrorMatch, error: unknown): error is AppError {
  if (!(error instanceof AppError)) return false;
  return typeof match === 'function' ? match(error) : match.includes(error.code);
}

export function createRouteKit(deps: { csrf: Csrf; site: () => SiteInfo; bodyLimitKb: () => number }): RouteKit {
  const { csrf, site } = deps;
  return {
    csrf,
    site,
    async form(ctx, flowId, purpose) {
      const body = await readForm(ctx, deps.bodyLimitKb());
      if (!csrf.verify(flowId, purpose, body.csrf)) throw new AppError('csrf_invalid');
      return body;
    },
    cookie(name, under) {
      const set = (ctx: Context, value: string, maxAge: number) =>
        ctx.cookies.set(name, value, { httpOnly: true, sameSite: 'lax', secure: ctx.secure, path: `${site().basePath}${under}`, maxAge, signed: false });
      return {
        get: (ctx) => ctx.cookies.get(name),
        set,
        clear: (ctx) => set(ctx, '', 0),
        browserId(ctx) {
          let value = ctx.cookies.get(name);
          if (!value || !BROWSER_ID.test(value)) {
            value = randomBytes(32).toString('base64url');
            set(ctx, value, 3600_000);
          }
          return value;
        },
      };
    },
    language(ctx, uiLocales) {
      const locale = localeOf(ctx, site(), uiLocales);
      return { locale, t: translator(locale) };
    },
    seeOther(ctx, url) {
      ctx.status = 303;
      ctx.redirect(url);
    },
    async attempt(action, match, page) {
      try {
        return { value: await action() };
      } catch (error) {
        if (!matches(match, error)) throw error;
        await page(error);
        return undefined;
      }
    },
    explain(match, page) {
      return async (ctx, next) => {
        try {
          await next();
        } catch (error) {
          if (!matches(match, error)) throw error;
          await page(ctx, error);
        }
      };
    },
  };
}
