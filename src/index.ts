/**
 * oidc-sspr public API.
 *
 * Standalone: `createIdp(config)` → `{ app, provider, close() }`.
 * Mounted: `createIdpParts(config)` gives the oidc-provider options (adapter, findAccount,
 * interaction policy, keys, pages) and the Koa middleware for the interaction pages, to use with
 * a Provider and Koa app of your own, and `httpMetrics` (latency histogram, GET /metrics) when
 * `metrics.enabled`. See the README's "Embedding" section.
 */
export { createIdp, createIdpParts, PurgeError } from './app.ts';
export type { Idp, IdpParts, IdpOptions } from './app.ts';
export type { HttpMetrics } from './metrics/index.ts';
export { loadConfigFile, parseConfig, parseConfigText, ConfigError } from './config/load.ts';
export { configSchema } from './config/schema.ts';
export type { Config, ConfigInput, ClientConfig } from './config/schema.ts';
export { createInteractionPolicy } from './oidc/policy.ts';
export { loginRoutes as interactionRoutes } from './flows/login/routes.ts';
export { createKnexAdapter } from './oidc/adapter.ts';
export { migrationsDir, migrateLatest, openDatabase } from './store/db.ts';
export { viewsDir } from './web/render.ts';
export type { Clock } from './clock.ts';
export type { PasswordWriteback } from './flows/recover/service.ts';
