/**
 * Prometheus metrics (`metrics:` in the configuration), off by default. One registry per IdP; the
 * business counters come from the audit trail, the rest from the throttle, the deliveries, the
 * database pool and the HTTP layer (see hooks.ts and http.ts).
 */
import type { Knex } from 'knex';
import type { Config } from '../config/schema.ts';
import type { Store } from '../store/index.ts';
import { Metrics } from './registry.ts';
import { countAuditEvent } from './audit.ts';
import { watchDatabase } from './hooks.ts';

export { Metrics } from './registry.ts';
export { meteredThrottle, meteredDelivery } from './hooks.ts';
export { serveMetrics, httpMetrics, routeLabel, routeOf, type HttpMetrics, type MetricsListener } from './http.ts';

/** The IdP's metrics with the audit trail and the database watched, or undefined when metrics are off. */
export function createMetrics(config: Config['metrics'], db: Knex, store: Store): Metrics | undefined {
  if (!config.enabled) return undefined;
  const metrics = new Metrics();
  store.audit.onRecord((event) => countAuditEvent(metrics, event));
  watchDatabase(db, metrics);
  return metrics;
}
