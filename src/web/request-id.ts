/**
 * Every request gets an id: in the X-Request-Id response header, on every log line about the request
 * and on the error pages, so a user's screenshot finds the log line. An X-Request-Id sent in is
 * taken only from a trusted reverse proxy (`server.trustProxy`, e.g. nginx's `$request_id`) and only
 * when it is well-formed; otherwise, and always without a trusted proxy, a new one is made.
 */
import { randomUUID } from 'node:crypto';
import type { Context, Middleware } from 'koa';

export const REQUEST_ID_HEADER = 'X-Request-Id';

/** Letters, digits and `._:-`, 8 to 128 long, starting with a letter or digit (UUIDs, nginx's hex ids). */
const WELL_FORMED = /^[A-Za-z0-9][A-Za-z0-9._:-]{7,127}$/;

export function isWellFormedRequestId(value: string): boolean {
  return WELL_FORMED.test(value);
}

/** The id of the request (set by requestId()); undefined outside one. */
export function requestIdOf(ctx: Context): string | undefined {
  const id = (ctx.state as { requestId?: unknown }).requestId;
  return typeof id === 'string' ? id : undefined;
}

/** Gives the request its id, once: a second use (the standalone app and the mounted parts) keeps the first. */
export function requestId(trustProxy: boolean): Middleware {
  return async (ctx, next) => {
    if (!requestIdOf(ctx)) {
      const sent = ctx.get(REQUEST_ID_HEADER);
      const id = trustProxy && isWellFormedRequestId(sent) ? sent : randomUUID();
      ctx.state.requestId = id;
      ctx.set(REQUEST_ID_HEADER, id);
    }
    await next();
  };
}
