/**
 * A GET to an address that only takes form posts — the language switcher on a page that answered a
 * form, a reload after a post, a copied address — goes back to the page the form belongs to: one
 * level up, with the query kept (`?lang=nl`), never above the flow's own page. Those pages render
 * the flow's current state, so nothing is lost but the unsent form.
 */
import type { Middleware } from 'koa';

/** The pages a flow's forms hang under; a GET never goes above them. */
const ROOTS = [/^\/interaction\/[^/]+$/, /^\/reset$/, /^\/security-info$/];
const FLOWS = /^\/(interaction|reset|security-info)\//;

/** Where a GET of `path` (a form action with no page of its own) goes instead, or undefined. */
export function pageOfFormAction(path: string): string | undefined {
  if (!FLOWS.test(path) || ROOTS.some((root) => root.test(path))) return undefined;
  const parent = path.replace(/\/[^/]*\/?$/, '');
  return parent || undefined;
}

export function formActionsOnGet(basePath: string): Middleware {
  return async (ctx, next) => {
    await next();
    if (ctx.method !== 'GET' || (ctx.status !== 404 && ctx.status !== 405) || ctx.body !== undefined) return;
    const target = pageOfFormAction(ctx.path);
    if (!target) return;
    ctx.status = 303;
    ctx.redirect(`${basePath}${target}${ctx.querystring ? `?${ctx.querystring}` : ''}`);
  };
}
