/** The `metrics:` section: Prometheus metrics at GET /metrics, off by default. */
import { z } from 'zod';
import { restartOnly } from './restart.ts';

const listen = z
  .strictObject({
    host: z.string().min(1).default('127.0.0.1').describe('Interface of the metrics listener; loopback unless you mean to expose it.'),
    port: z.number().int().min(0).max(65535).describe('TCP port of the metrics listener (not the server port). The standalone server only: a host that mounts the parts serves parts.httpMetrics.endpoint where it wants.'),
  })
  .optional()
  .describe('Serve /metrics on its own small HTTP server at this address instead of the main port (which then answers 404 there).');

export const metricsSchema = restartOnly(
  z
    .strictObject({
      enabled: z.boolean().default(false).describe('Serve Prometheus metrics (text format) at GET /metrics.'),
      token: z
        .string()
        .min(16, 'must be at least 16 characters')
        .max(512)
        .optional()
        .describe('Bearer token a scraper must send (Authorization: Bearer …); use ${ENV_VAR}. Without it /metrics is open to whoever reaches it.'),
      listen,
    })
    .prefault({})
    .superRefine((m, ctx) => {
      if (!m.enabled && (m.token !== undefined || m.listen !== undefined)) {
        ctx.addIssue({ code: 'custom', path: ['enabled'], message: 'must be true when token or listen is set' });
      }
    })
    .describe('Prometheus metrics'),
);
