/** Security headers for every response of the IdP. */
import type { Middleware } from 'koa';

const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' https: data:",
  "form-action 'self' https: http:",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "connect-src 'self'",
].join('; ');

export function securityHeaders(): Middleware {
  return async (ctx, next) => {
    await next();
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('X-Frame-Options', 'DENY');
    ctx.set('Cross-Origin-Opener-Policy', 'same-origin');
    ctx.set('Referrer-Policy', 'no-referrer');
    if (ctx.response.is('html')) {
      // oidc-provider's own form_post / check_session pages ship inline script with a CSP of their own.
      if (!ctx.response.get('Content-Security-Policy')) ctx.set('Content-Security-Policy', CSP);
      ctx.set('Cache-Control', 'no-store');
    }
    if (ctx.secure) ctx.set('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
  };
}
