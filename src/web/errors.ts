/**
 * Turns every failure into a page (or JSON for API clients) with a status and an error code:
 * never a stack trace. Database outages answer 503.
 */
import type { Middleware, Context } from 'koa';
import type { Logger } from 'pino';
import { AppError } from '../errors.ts';
import type { MessageId } from '../i18n/index.ts';
import type { Renderer } from './render.ts';
import { requestIdOf } from './request-id.ts';

/** Seconds a client is asked to wait (Retry-After) when the database is unavailable. */
export const RETRY_AFTER_SECONDS = 5;

const DB_DOWN = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', '57P01', '57P03', '08006', '08001', '08003', 'SQLITE_BUSY', 'SQLITE_IOERR']);

export function isDatabaseUnavailable(error: unknown): boolean {
  const e = error as { code?: string; name?: string; message?: string };
  return (
    (typeof e?.code === 'string' && DB_DOWN.has(e.code)) ||
    e?.name === 'KnexTimeoutError' ||
    /Connection terminated|connect ECONNREFUSED|Timeout acquiring a connection/.test(e?.message ?? '')
  );
}

export function classify(error: unknown): { status: number; code: string; messageId: MessageId; expose: boolean } {
  if (error instanceof AppError) return { status: error.status, code: error.code, messageId: error.messageId, expose: true };
  if (isDatabaseUnavailable(error)) return { status: 503, code: 'service_unavailable', messageId: 'error.unavailable', expose: false };
  const e = error as { status?: number; statusCode?: number; expose?: boolean };
  const status = e?.status ?? e?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const code = status === 404 ? 'not_found' : status === 413 ? 'body_too_large' : 'bad_request';
    const messageId = status === 404 ? 'error.not_found' : status === 413 ? 'error.too_large' : 'error.bad_request';
    return { status, code, messageId, expose: true };
  }
  return { status: 500, code: 'server_error', messageId: 'error.server', expose: false };
}

export async function renderFailure(ctx: Context, render: Renderer, status: number, code: string, messageId: MessageId): Promise<void> {
  if (ctx.accepts('html', 'json') === 'json') {
    ctx.status = status;
    ctx.body = { error: code };
    return;
  }
  await render(ctx, 'error', { title: 'error.title', code, messageId }, { status });
}

export function errorPages(render: Renderer, log: Logger): Middleware {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) {
        await renderFailure(ctx, render, 404, 'not_found', 'error.not_found');
      } else if (ctx.status === 405 && ctx.body === undefined) {
        await renderFailure(ctx, render, 405, 'method_not_allowed', 'error.bad_request');
      }
    } catch (error) {
      const { status, code, messageId, expose } = classify(error);
      const requestId = requestIdOf(ctx);
      if (expose) log.info({ requestId, errorCode: code, status, path: ctx.path }, 'request refused');
      else log.error({ err: error, requestId, errorCode: code, path: ctx.path }, 'request failed');
      if (status === 503) ctx.set('Retry-After', String(RETRY_AFTER_SECONDS));
      try {
        await renderFailure(ctx, render, status, code, messageId);
      } catch (renderError) {
        log.error({ err: renderError }, 'error page failed');
        ctx.status = status;
        ctx.type = 'text';
        ctx.body = `Error: ${code}`;
      }
    }
  };
}
