/**
 * GET /metrics (Prometheus text format) and the request latency histogram. Standalone, /metrics is
 * served either by the IdP's own app or, with `metrics.listen`, only by a small HTTP server of its
 * own (loopback by default); a host that mounts the parts serves the same middleware where it
 * likes. With `metrics.token` a scraper must send it as a bearer token.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash, timingSafeEqual } from 'node:crypto';
import type Koa from 'koa';
import type { Context, Middleware } from 'koa';
import type { Config } from '../config/schema.ts';
import type { Metrics } from './registry.ts';

export const METRICS_PATH = '/metrics';

const digest = (value: string) => createHash('sha256').update(value).digest();

/** True when the Authorization header carries the token (compared in constant time) or none is configured. */
export function authorised(header: string | undefined, token: string | undefined): boolean {
  if (token === undefined) return true;
  const given = /^Bearer ([^\s]+)$/i.exec(header ?? '')?.[1] ?? '';
  // Equal-length digests: the comparison takes as long whatever was sent.
  return timingSafeEqual(digest(given), digest(token)) && given.length > 0;
}

async function scrape(metrics: Metrics, token: string | undefined, authorization: string | undefined): Promise<{ status: number; type: string; body: string; headers: Record<string, string> }> {
  if (!authorised(authorization, token)) {
    return { status: 401, type: 'text/plain; charset=utf-8', body: 'a bearer token is required\n', headers: { 'WWW-Authenticate': 'Bearer realm="metrics"' } };
  }
  return { status: 200, type: metrics.contentType, body: await metrics.text(), headers: { 'Cache-Control': 'no-store' } };
}

/** Route labels the IdP's own stack found for a request, read by `timing` outside it (and outside any mount). */
const idpRoutes = new WeakMap<Context, string>();
/** Requests `endpoint` answered: labelled by their path, which the mount they came through fixes. */
const scrapes = new WeakSet<Context>();

type Matched = { _matchedRoute?: unknown };

/**
 * First in the IdP's stack, under the path it is mounted at: notes the pattern of the route that
 * served the request (a router's `/interaction/:uid/login`, oidc-provider's `/token`) with the
 * IdP's `basePath` in front, so the label is the same whether the IdP runs standalone or in a host.
 * Only a route matched in here counts: a host's router outside keeps its own pattern.
 */
export function routeLabel(basePath: string): Middleware {
  return async (ctx, next) => {
    const state = ctx as unknown as Matched;
    const before = state._matchedRoute;
    try {
      await next();
    } finally {
      if (typeof state._matchedRoute === 'string' && state._matchedRoute !== before) idpRoutes.set(ctx, `${basePath}${state._matchedRoute}`);
      else if (ctx.path.startsWith('/assets/')) idpRoutes.set(ctx, `${basePath}/assets/*`);
    }
  };
}

/**
 * The label of a request: the pattern of the route that served it, never the path itself, so the
 * series stay few whatever is requested. A host's own router gives its pattern as it is.
 */
export function routeOf(ctx: Context): string {
  const idp = idpRoutes.get(ctx);
  if (idp) return idp;
  if (scrapes.has(ctx) || ctx.path === '/healthz') return ctx.path;
  const { _matchedRoute } = ctx as unknown as Matched;
  return typeof _matchedRoute === 'string' ? _matchedRoute : 'unmatched';
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH']);

function timing(metrics: Metrics): Middleware {
  return async (ctx, next) => {
    const end = metrics.httpDuration.startTimer();
    try {
      await next();
    } finally {
      end({ method: METHODS.has(ctx.method) ? ctx.method : 'other', route: routeOf(ctx), status: String(ctx.status) });
    }
  };
}

function endpoint(metrics: Metrics, token: string | undefined): Middleware {
  return async (ctx, next) => {
    if (ctx.path !== METRICS_PATH || (ctx.method !== 'GET' && ctx.method !== 'HEAD')) return next();
    scrapes.add(ctx);
    const answer = await scrape(metrics, token, ctx.get('Authorization') || undefined);
    ctx.set(answer.headers);
    ctx.status = answer.status;
    ctx.type = answer.type;
    ctx.body = answer.body;
  };
}

/** The HTTP side of the metrics as Koa middleware, for the standalone app and for a host that mounts the parts. */
export interface HttpMetrics {
  /**
   * Times every request that passes through it into `oidc_sspr_http_request_duration_seconds`, by
   * method, route pattern and status: use it first, in front of the IdP's mount.
   */
  timing: Middleware;
  /**
   * Answers `GET /metrics` (and HEAD) with the Prometheus text exposition, requiring
   * `metrics.token` as a bearer token when one is configured; passes every other request on.
   * Under koa-mount it answers at the mount's prefix + `/metrics`.
   */
  endpoint: Middleware;
}

export function httpMetrics(metrics: Metrics, config: Config['metrics']): HttpMetrics {
  return { timing: timing(metrics), endpoint: endpoint(metrics, config.token) };
}

/** The metrics listener of `metrics.listen`. */
export interface MetricsListener {
  /** http://host:port of the listener. */
  readonly url: string;
  close(): Promise<void>;
}

async function listen(metrics: Metrics, token: string | undefined, at: { host: string; port: number }): Promise<MetricsListener> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== METRICS_PATH || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('not found\n');
      return;
    }
    scrape(metrics, token, req.headers.authorization).then(
      (answer) => res.writeHead(answer.status, { ...answer.headers, 'Content-Type': answer.type }).end(req.method === 'HEAD' ? undefined : answer.body),
      () => res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' }).end('metrics failed\n'),
    );
  });
  server.requestTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(at.port, at.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * Adds the latency histogram and /metrics to the standalone `app` (first, so every request is
 * timed). With `metrics.listen`, /metrics is served by its own listener instead, which is returned.
 */
export async function serveMetrics(app: Koa, metrics: Metrics | undefined, config: Config['metrics']): Promise<MetricsListener | undefined> {
  if (!metrics) return undefined;
  const { timing, endpoint } = httpMetrics(metrics, config);
  app.use(timing);
  if (!config.listen) {
    app.use(endpoint);
    return undefined;
  }
  return listen(metrics, config.token, config.listen);
}
