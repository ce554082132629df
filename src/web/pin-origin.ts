/**
 * Every URL the IdP publishes (discovery, redirects, form actions oidc-provider builds) comes from
 * `server.issuer`, never from the request: the Host and X-Forwarded-Host headers and an
 * absolute-form request target (`GET http://evil.example/token`) are ignored. The discovery
 * document, the same for every request then, may be cached for a while.
 */
import type { Middleware } from 'koa';

const ABSOLUTE = /^[a-z][a-z0-9+.-]*:/i;
const DISCOVERY = '/.well-known/openid-configuration';
const DISCOVERY_CACHE = 'public, max-age=300';

export function pinOrigin(issuer: string): Middleware {
  const { origin, host, pathname } = new URL(issuer);
  const discovery = `${pathname.replace(/\/+$/, '')}${DISCOVERY}`;
  return async (ctx, next) => {
    let target = ctx.originalUrl;
    if (ABSOLUTE.test(target)) {
      const parsed = URL.canParse(target) ? new URL(target) : undefined;
      target = parsed ? `${parsed.pathname}${parsed.search}` : '/';
    }
    ctx.req.headers.host = host;
    delete ctx.req.headers['x-forwarded-host'];
    // Koa's request.origin and request.href (what oidc-provider builds its URLs on) read the request;
    // these fixed values shadow them for this request only.
    Object.defineProperty(ctx.request, 'origin', { value: origin, configurable: true });
    Object.defineProperty(ctx.request, 'href', { value: `${origin}${target}`, configurable: true });
    await next();
    if (ctx.method === 'GET' && ctx.status === 200 && ctx.originalUrl.split('?')[0] === discovery) ctx.set('Cache-Control', DISCOVERY_CACHE);
  };
}
