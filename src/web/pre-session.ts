/**
 * A random per-browser value in a cookie, so forms shown before there is a session (the
 * security-info sign-in, the first reset page) still carry a CSRF token bound to this browser.
 */
import { randomBytes } from 'node:crypto';
import type { Context } from 'koa';

export function preSession(ctx: Context, name: string, path: string): string {
  let value = ctx.cookies.get(name);
  if (!value || !/^[A-Za-z0-9_-]{43}$/.test(value)) {
    value = randomBytes(32).toString('base64url');
    ctx.cookies.set(name, value, { httpOnly: true, sameSite: 'lax', secure: ctx.secure, path, maxAge: 3600_000, signed: false });
  }
  return value;
}
