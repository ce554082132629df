/**
 * The single source of every configuration key: its type, default, range and documentation.
 * The README's configuration reference is generated from this file (`npm run docs:config`),
 * and a test fails when the two drift apart.
 */
import { z } from 'zod';
import { ssprSchema, deliverySchema, passwordPolicySchema, lockoutSchema, throttleSchema, auditSchema } from './sspr-schema.ts';
import { restartOnly, restartRegistry } from './restart.ts';
import { mfaSchema } from './mfa-schema.ts';
import { directorySchema } from './directory-schema.ts';
import { metricsSchema } from './metrics-schema.ts';
import { defOf, layers, peel, type Schema } from './nodes.ts';
import { relyingPartyOf } from '../methods/passkey/relying-party.ts';
import { int, section } from './builders.ts';

const url = z.string().refine((value) => {
  try {
    const parsed = new URL(value);
    return parsed.protocol === 'http:' || parsed.protocol === 'https:';
  } catch {
    return false;
  }
}, 'must be an absolute http(s) URL')
  // oidc-provider refuses issuers and client redirect URIs with a fragment; say so at load time, with the key path.
  .refine((value) => !value.includes('#'), 'must not contain a #fragment');

const server = section('HTTP server', {
  issuer: restartOnly(
    url.default('http://localhost:3000').describe('Public URL of the IdP (the OIDC issuer). A path is allowed (https://example.org/idp).'),
  ),
  port: restartOnly(int(3000, 0, 65535, 'TCP port to listen on.')),
  host: restartOnly(z.string().min(1).optional().describe('Interface to listen on; all interfaces when left out.')),
  trustProxy: restartOnly(
    z
      .boolean()
      .default(false)
      .describe('Trust X-Forwarded-* headers from a reverse proxy (needed for Secure cookies behind TLS termination).'),
  ),
  proxyHops: restartOnly(
    int(1, 1, 10, 'With trustProxy: how many reverse proxies in front of the IdP append to X-Forwarded-For. The client address is the entry this many places from the right; entries further left are written by the client and ignored.'),
  ),
  bodyLimitKb: int(32, 1, 1024, 'Largest form body accepted, in KiB.'),
  shutdownGraceSeconds: restartOnly(int(10, 1, 300, 'On SIGTERM/SIGINT, how long in-flight requests may take to finish.')),
});

const database = section('Where users, tokens and keys are stored', {
  client: z.enum(['sqlite', 'postgres']).default('sqlite').describe('Database engine.'),
  filename: z
    .string()
    .min(1)
    .default('./data/oidc-sspr.sqlite')
    .describe('SQLite file, relative to the working directory (sqlite only).'),
  url: z
    .string()
    .min(1)
    .optional()
    .describe('Connection URL, e.g. postgres://user:pass@host:5432/db (postgres only).'),
  schema: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lower-case SQL identifier')
    .optional()
    .describe('PostgreSQL schema to use; created if missing (postgres only).'),
  pool: section('Connection pool (postgres only).', {
    min: int(0, 0, 100, 'Fewest open connections.'),
    max: int(10, 1, 100, 'Most open connections.'),
  }),
  preparedStatements: z
    .boolean()
    .default(true)
    .describe(
      'Run the sign-in and token statements as named prepared statements, planned once per connection (postgres only). Turn off behind a connection pooler in transaction mode that does not keep prepared statements (PgBouncer before 1.21, or without max_prepared_statements).',
    ),
})
  .superRefine((db, ctx) => {
    if (db.client === 'postgres' && !db.url) {
      ctx.addIssue({ code: 'custom', path: ['url'], message: 'is required when client is postgres' });
    }
    if (db.pool.min > db.pool.max) {
      ctx.addIssue({ code: 'custom', path: ['pool', 'min'], message: 'must not be greater than pool.max' });
    }
  });

const logging = section('Structured logging', {
  level: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .default('info')
    .describe('Least severe level written to the log (JSON lines on stdout); a change applies at once.'),
});

const ttl = section('Token and artefact lifetimes', {
  accessToken: int(3600, 60, 86400, 'Access token lifetime, seconds.'),
  authorizationCode: int(60, 10, 600, 'Authorization code lifetime, seconds.'),
  idToken: int(3600, 60, 86400, 'ID token lifetime, seconds.'),
  refreshToken: int(14 * 86400, 3600, 365 * 86400, 'Refresh token lifetime, seconds.'),
  session: int(14 * 86400, 300, 365 * 86400, 'Browser session lifetime at the IdP, seconds.'),
  grant: int(14 * 86400, 300, 365 * 86400, 'Grant (consent) lifetime, seconds.'),
  interaction: int(3600, 60, 86400, 'How long a sign-in interaction may stay open, seconds.'),
  deviceCode: int(600, 60, 3600, 'Device code lifetime, seconds (device flow is off; kept for completeness).'),
  clientCredentials: int(600, 60, 86400, 'Client credentials token lifetime, seconds.'),
});

const oidc = section('OpenID Connect behaviour', {
  ttl,
  signingAlgorithm: z
    .enum(['RS256', 'PS256', 'ES256', 'EdDSA'])
    .default('RS256')
    .describe('Algorithm of the signing key generated on first run and by `keys rotate`.'),
  purgeIntervalSeconds: int(300, 10, 86400, 'How often expired tokens and sessions are deleted.'),
  requirePkce: z
    .enum(['public', 'all'])
    .default('public')
    .describe('Which clients must send PKCE (S256) with an authorization request: `public` (those without a secret) or `all` (confidential clients too).'),
});

const clientId = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces');

const client = z
  .strictObject({
    clientId: clientId.describe('The client_id the relying party sends.'),
    clientName: z.string().min(1).max(200).optional().describe('Name shown on the consent page.'),
    clientSecret: z
      .string()
      .min(16, 'must be at least 16 characters')
      .max(512)
      .optional()
      .describe('Secret of a confidential client; leave out for a public client (PKCE S256 is then required).'),
    tokenEndpointAuthMethod: z
      .enum(['client_secret_basic', 'client_secret_post', 'none'])
      .optional()
      .describe('How the client authenticates at the token endpoint; default client_secret_basic, or none without a secret.'),
    redirectUris: z.array(url).min(1).describe('Allowed redirect_uri values, exact match.'),
    postLogoutRedirectUris: z.array(url).default([]).describe('Allowed post_logout_redirect_uri values.'),
    firstParty: z.boolean().default(false).describe('Skip the consent page for this client.'),
    allowRefreshTokens: z
      .boolean()
      .default(true)
      .describe('Allow the refresh_token grant (issued when the offline_access scope is granted).'),
  })
  .superRefine((c, ctx) => {
    const method = c.tokenEndpointAuthMethod ?? (c.clientSecret ? 'client_secret_basic' : 'none');
    if (method === 'none' && c.clientSecret) {
      ctx.addIssue({ code: 'custom', path: ['clientSecret'], message: 'must be left out when tokenEndpointAuthMethod is none' });
    }
    if (method !== 'none' && !c.clientSecret) {
      ctx.addIssue({ code: 'custom', path: ['clientSecret'], message: `is required for ${method}` });
    }
  });

const argon2 = section('argon2id parameters for passwords; stored hashes with other parameters are upgraded at the next sign-in', {
  memoryCost: int(19456, 7168, 1048576, 'Memory per hash in KiB (OWASP minimum 19456 with timeCost 2).'),
  timeCost: int(2, 1, 20, 'Iterations.'),
  parallelism: int(1, 1, 16, 'Lanes.'),
});

const ui = section('Look of the pages', {
  organisation: z.string().min(1).max(100).default('oidc-sspr').describe('Organisation name shown on every page.'),
  logoUrl: z
    .string()
    .max(2000)
    .regex(/^(\/|https:\/\/)/, 'must start with / or https://')
    .optional()
    .describe('Logo shown on every page (a path served by your proxy, or an https URL).'),
  logoFile: z
    .string()
    .min(1)
    .max(1000)
    .regex(/\.(svg|png|jpe?g|webp)$/i, 'must be an .svg, .png, .jpg or .webp file')
    .optional()
    .describe('Logo file the IdP serves itself (at most 512 KiB), relative to the working directory; instead of logoUrl. Checked at start.'),
  defaultLocale: z.enum(['en', 'nl']).default('en').describe('Language when neither the request nor the browser asks for one.'),
})
  .superRefine((u, ctx) => {
    if (u.logoUrl && u.logoFile) ctx.addIssue({ code: 'custom', path: ['logoFile'], message: 'use either logoUrl or logoFile, not both' });
  });

export const configSchema = z
  .strictObject({
    server,
    database: restartOnly(database),
    logging,
    // The Provider is built from these once.
    oidc: restartOnly(oidc),
    clients: z.array(client).default([]).describe('Relying parties allowed to use this IdP'),
    passwords: z.strictObject({ argon2 }).prefault({}).describe('Password hashing'),
    passwordPolicy: passwordPolicySchema,
    lockout: lockoutSchema,
    throttle: throttleSchema,
    audit: auditSchema,
    ui,
    sspr: ssprSchema,
    mfa: mfaSchema,
    delivery: deliverySchema,
    directory: directorySchema,
    metrics: metricsSchema,
  })
  .superRefine((config, ctx) => {
    const seen = new Map<string, number>();
    config.clients.forEach((c, index) => {
      const first = seen.get(c.clientId);
      if (first !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['clients', index, 'clientId'],
          message: `duplicates clients.${first}.clientId "${c.clientId}"`,
        });
      }
      seen.set(c.clientId, index);
    });
    if (config.sspr.methods.passkey) {
      const rp = relyingPartyOf(config.server.issuer);
      if (!rp.ok) ctx.addIssue({ code: 'custom', path: ['sspr', 'methods', 'passkey'], message: rp.problem });
    }
  });

export type Config = z.infer<typeof configSchema>;
export type ClientConfig = Config['clients'][number];
export type ConfigInput = z.input<typeof configSchema>;

/** Dotted paths of the nodes marked restartOnly (not looking inside lists, which are all live). */
function restartPaths(schema: Schema, at: string[]): string[] {
  if (at.length > 0 && layers(schema).some((node) => restartRegistry.has(node))) return [at.join('.')];
  const def = defOf(peel(schema));
  if (def.type !== 'object') return [];
  return Object.entries(def.shape).flatMap(([key, child]) => restartPaths(child, [...at, key]));
}

/**
 * Keys whose change only takes effect after a restart (a path covers everything below it), read
 * from the schema's restartOnly marks: the same marks put "Needs a restart." in the reference.
 */
export const restartKeys: readonly string[] = restartPaths(configSchema, []);

/** True when `key` (dotted, `clients[].x` for list items) changes only after a restart. */
export function needsRestart(key: string): boolean {
  return restartKeys.some((k) => key === k || key.startsWith(`${k}.`));
}
