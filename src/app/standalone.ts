/** Middleware the standalone app puts in front of the IdP: the health check and the request log. */
import { requestIdOf } from '../web/request-id.ts';
import type { Middleware } from 'koa';
import type { Store } from '../store/index.ts';
import type { DirectoryRuntime } from '../directory/runtime.ts';
import type { Logger } from '../logging.ts';
import { RETRY_AFTER_SECONDS } from '../web/errors.ts';

/**
 * `GET /healthz`: 200 when the database answers, 503 otherwise (for load balancers). The directory's
 * state is reported on its own (`directory`): when only it is down, cloud users are still served.
 */
export function health(store: Store, directory: DirectoryRuntime | undefined): Middleware {
  return async (ctx, next) => {
    if (ctx.path !== '/healthz' || ctx.method !== 'GET') return next();
    try {
      await store.ping();
      ctx.body = { status: 'ok', ...(directory ? { directory: await directory.health() } : {}) };
    } catch {
      ctx.status = 503;
      ctx.set('Retry-After', String(RETRY_AFTER_SECONDS));
      ctx.body = { status: 'unavailable' };
    }
  };
}

/** One log line per request: its id, method, path without query (it may carry codes), status, duration. */
export function requestLog(log: Logger): Middleware {
  return async (ctx, next) => {
    const started = performance.now();
    try {
      await next();
    } finally {
      log.debug({ requestId: requestIdOf(ctx), method: ctx.method, path: ctx.path, status: ctx.status, ms: Math.round(performance.now() - started) }, 'request');
    }
  };
}
