/**
 * The configuration loader against a corpus of realistic mistakes (test/fixtures/config/bad):
 * every file must be rejected with a ConfigError whose problems name the exact key path.
 */
import test from 'ava';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { ConfigError, loadConfigFile, parseConfig, parseConfigText } from '../src/config/load.ts';
import { configSchema } from '../src/config/schema.ts';
import { LiveConfig } from '../src/config/live.ts';

const fixtures = fileURLToPath(new URL('./fixtures/config/', import.meta.url));
const bad = path.join(fixtures, 'bad');
const good = path.join(fixtures, 'good');
const example = fileURLToPath(new URL('../config/idp.example.yaml', import.meta.url));

/** A problem the loader must report: the exact key path ('' for the whole file) and part of the message. */
type Expected = [path: string, message: string];

/** Every file in bad/ → the problems it must produce (at least these; order free). */
const corpus: Record<string, { expect: Expected[]; env?: NodeJS.ProcessEnv }> = {
  // YAML syntax: reported for the whole file, with the line.
  'yaml-unclosed-bracket.yaml': { expect: [['', 'YAML syntax error at line 6']] },
  'yaml-bad-indentation.yaml': { expect: [['', 'YAML syntax error at line 4, column 1: All mapping items must start at the same column']] },
  'yaml-tab-indentation.yaml': { expect: [['', 'YAML syntax error at line 3, column 1: Tabs are not allowed as indentation']] },
  'yaml-duplicate-key.yaml': { expect: [['', 'YAML syntax error at line 8, column 1: Map keys must be unique']] },
  'yaml-multiple-documents.yaml': { expect: [['', 'multiple documents']] },
  'top-level-list.yaml': { expect: [['', 'must be a mapping of keys to values']] },

  // Wrong types.
  'server-port-string.yaml': { expect: [['server.port', 'expected number, received string']] },
  'server-port-fraction.yaml': { expect: [['server.port', 'expected int']] },
  'server-trustproxy-yes.yaml': { expect: [['server.trustProxy', 'expected boolean, received string']] },
  'server-empty-section.yaml': { expect: [['server', 'expected object, received null']] },
  'clients-as-mapping.yaml': { expect: [['clients', 'expected array, received object']] },
  'client-entry-string.yaml': { expect: [['clients.0', 'expected object, received string']] },
  'ttl-duration-string.yaml': { expect: [['oidc.ttl.refreshToken', 'expected number, received string']] },

  // Out of range.
  'server-port-out-of-range.yaml': { expect: [['server.port', '<=65535']] },
  'server-bodylimit-zero.yaml': { expect: [['server.bodyLimitKb', '>=1']] },
  'argon2-memorycost-too-low.yaml': { expect: [['passwords.argon2.memoryCost', '>=7168']] },
  'ttl-accesstoken-zero.yaml': { expect: [['oidc.ttl.accessToken', '>=60']] },

  // Unknown keys, top level and nested: one problem per key.
  'unknown-top-level-key.yaml': { expect: [['client', 'unknown key']] },
  'unknown-nested-key.yaml': { expect: [['server.prot', 'unknown key']] },
  'unknown-nested-keys-several.yaml': { expect: [['server.prot', 'unknown key'], ['server.hots', 'unknown key']] },
  'client-redirecturi-typo.yaml': { expect: [['clients.0.redirectUri', 'unknown key'], ['clients.0.redirectUris', 'expected array']] },

  // Enums.
  'database-client-mysql.yaml': { expect: [['database.client', 'expected one of "sqlite"|"postgres"']] },
  'ui-locale-fr.yaml': { expect: [['ui.defaultLocale', 'expected one of "en"|"nl"']] },
  'logging-level-verbose.yaml': { expect: [['logging.level', 'expected one of "fatal"']] },
  'oidc-requirepkce-unknown.yaml': { expect: [['oidc.requirePkce', 'expected one of "public"|"all"']] },

  // Formats and cross-field rules.
  'server-issuer-no-scheme.yaml': { expect: [['server.issuer', 'must be an absolute http(s) URL']] },
  'database-postgres-without-url.yaml': { expect: [['database.url', 'is required when client is postgres']] },
  'database-pool-min-greater-than-max.yaml': { expect: [['database.pool.min', 'must not be greater than pool.max']] },
  'database-schema-uppercase.yaml': { expect: [['database.schema', 'must be a lower-case SQL identifier']] },
  'ui-logo-http.yaml': { expect: [['ui.logoUrl', 'must start with / or https://']] },
  'client-secret-with-auth-none.yaml': { expect: [['clients.0.clientSecret', 'must be left out when tokenEndpointAuthMethod is none']] },
  'client-confidential-without-secret.yaml': { expect: [['clients.0.clientSecret', 'is required for client_secret_post']] },
  'client-short-secret.yaml': { expect: [['clients.0.clientSecret', 'at least 16 characters']] },
  'client-duplicate-id.yaml': { expect: [['clients.1.clientId', 'duplicates clients.0.clientId "demo-app"']] },
  'client-id-with-space.yaml': { expect: [['clients.0.clientId', 'printable ASCII without spaces']] },
  'client-without-redirect-uris.yaml': { expect: [['clients.0.redirectUris', '>=1 items']] },
  'redirect-uri-not-a-url.yaml': { expect: [['clients.0.redirectUris.0', 'must be an absolute http(s) URL']] },
  'redirect-uri-javascript.yaml': { expect: [['clients.0.redirectUris.0', 'must be an absolute http(s) URL']] },
  'redirect-uri-fragment.yaml': { expect: [['clients.0.redirectUris.0', 'must not contain a #fragment']] },
  'redirect-uri-deep-in-list.yaml': { expect: [['clients.1.redirectUris.0', 'must be an absolute http(s) URL']] },
  'sspr-codes-maxattempts-too-high.yaml': { expect: [['sspr.codes.maxAttempts', '<=5']] },

  // SSPR policy rules across keys.
  'sspr-admins-fewer-than-two-methods.yaml': { expect: [['sspr.administrators.groups', 'administrators need two methods, but sspr.methods offers them only 1']] },
  'sspr-questions-too-few-custom.yaml': { expect: [['sspr.securityQuestions.custom', 'must hold at least numberToRegister (3) questions when predefined is false; it has 2']] },
  'sspr-questions-duplicate-custom.yaml': { expect: [['sspr.securityQuestions.custom.2', 'duplicates sspr.securityQuestions.custom.0 (same text)']] },

  // sspr, lockout, throttle and audit sections: wrong types, out of range, unknown keys, conflicts.
  'sspr-enabled-yes.yaml': { expect: [['sspr.enabled', 'expected one of "none"|"selected"|"all"']] },
  'sspr-methodsrequired-three.yaml': { expect: [['sspr.methodsRequired', 'expected one of 1|2']] },
  'sspr-unknown-key.yaml': { expect: [['sspr.methodRequired', 'unknown key']] },
  'sspr-limits-phoneperhour-string.yaml': { expect: [['sspr.limits.phonePerHour', 'expected number, received string']] },
  'sspr-limits-resetsperday-zero.yaml': { expect: [['sspr.limits.resetsPerDay', '>=1']] },
  'sspr-limits-blockhours-too-high.yaml': { expect: [['sspr.limits.blockHours', '<=168']] },
  'sspr-limits-unknown-key.yaml': { expect: [['sspr.limits.emailsPerTenMinutes', 'unknown key']] },
  'sspr-questions-reset-more-than-register.yaml': { expect: [['sspr.securityQuestions.numberToReset', 'must not be greater than numberToRegister (3)']] },
  'lockout-threshold-string.yaml': { expect: [['lockout.threshold', 'expected number, received string']] },
  'lockout-threshold-too-high.yaml': { expect: [['lockout.threshold', '<=100']] },
  'lockout-growth-below-one.yaml': { expect: [['lockout.growth', '>=1']] },
  'lockout-max-less-than-duration.yaml': { expect: [['lockout.maxDurationSeconds', 'must not be less than durationSeconds']] },
  'lockout-unknown-key.yaml': { expect: [['lockout.duration', 'unknown key']] },
  'throttle-signinperip-negative.yaml': { expect: [['throttle.signinPerIp', '>=1']] },
  'throttle-resetperip-boolean.yaml': { expect: [['throttle.resetPerIp', 'expected number, received boolean']] },
  'throttle-window-too-long.yaml': { expect: [['throttle.resetWindowSeconds', '<=86400']] },
  'throttle-unknown-key.yaml': { expect: [['throttle.signInPerIp', 'unknown key']] },
  'audit-retention-zero.yaml': { expect: [['audit.retentionDays', '>=1']] },
  'audit-retention-string.yaml': { expect: [['audit.retentionDays', 'expected number, received string']] },
  'audit-unknown-key.yaml': { expect: [['audit.retention', 'unknown key']] },
  'audit-empty-section.yaml': { expect: [['audit', 'expected object, received null']] },

  // ${ENV} references.
  'env-var-unset.yaml': {
    expect: [['database.url', 'refers to environment variable OIDC_DB_PASSWORD, which is not set']],
    env: { PGPASSWORD: 'not the one referred to' },
  },
};

async function rejection(file: string, env: NodeJS.ProcessEnv = {}): Promise<ConfigError> {
  try {
    await loadConfigFile(file, env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error(`${path.basename(file)} was accepted`);
}

test('the table covers exactly the files in fixtures/config/bad', (t) => {
  const files = readdirSync(bad).filter((f) => f.endsWith('.yaml')).sort();
  t.deepEqual(files, Object.keys(corpus).sort());
});

for (const [name, { expect, env }] of Object.entries(corpus)) {
  test(`rejects bad/${name}`, async (t) => {
    const file = path.join(bad, name);
    const error = await rejection(file, env);
    t.is(error.file, file);
    t.true(error.message.startsWith(`${file}: invalid configuration`));
    for (const [keyPath, message] of expect) {
      const match = error.problems.find((p) => p.path === keyPath && p.message.includes(message));
      t.truthy(match, `expected a problem at "${keyPath}" containing "${message}", got ${JSON.stringify(error.problems)}`);
    }
    // No problem points somewhere unexpected.
    const paths = new Set(expect.map(([keyPath]) => keyPath));
    t.deepEqual(
      error.problems.filter((p) => !paths.has(p.path)),
      [],
      'only the expected key paths are reported',
    );
  });
}

test('a problem deep in a list names the list indexes, in the error message too', async (t) => {
  const error = await rejection(path.join(bad, 'redirect-uri-deep-in-list.yaml'));
  t.deepEqual(error.problems, [{ path: 'clients.1.redirectUris.0', message: 'must be an absolute http(s) URL' }]);
  t.true(error.message.includes('\n  - clients.1.redirectUris.0: must be an absolute http(s) URL'));
});

test('a YAML syntax error says where, once', async (t) => {
  const error = await rejection(path.join(bad, 'yaml-tab-indentation.yaml'));
  t.is(error.problems.length, 1);
  t.is(error.problems[0]!.message, 'YAML syntax error at line 3, column 1: Tabs are not allowed as indentation');
  t.true(error.message.includes('  - (file): YAML syntax error at line 3'));
});

test('a missing file is a ConfigError for the whole file', async (t) => {
  const file = path.join(fixtures, 'no-such-file.yaml');
  const error = await rejection(file);
  t.deepEqual(error.problems, [{ path: '', message: 'file not found' }]);
});

const defaults = configSchema.parse({});

test('an empty file is valid: every key takes its default', async (t) => {
  const config = await loadConfigFile(path.join(good, 'empty.yaml'), {});
  t.deepEqual(config, defaults);
  t.is(config.server.port, 3000);
  t.is(config.database.client, 'sqlite');
  t.deepEqual(config.clients, []);
});

test('a file with only a comment is valid: every key takes its default', async (t) => {
  t.deepEqual(await loadConfigFile(path.join(good, 'comment-only.yaml'), {}), defaults);
});

test('defaults are applied to an empty object and to left-out keys', (t) => {
  const config = parseConfig({}, { env: {} });
  t.is(config.server.port, 3000);
  t.is(config.server.issuer, 'http://localhost:3000');
  t.is(config.database.client, 'sqlite');
  t.is(config.database.pool.max, 10);
  t.is(config.oidc.ttl.accessToken, 3600);
  t.is(config.passwords.argon2.memoryCost, 19456);
  t.is(config.ui.defaultLocale, 'en');

  const partial = parseConfigText('server:\n  port: 8080\nclients:\n  - clientId: spa\n    redirectUris: [https://spa.example.org/cb]\n', { env: {} });
  t.is(partial.server.port, 8080);
  t.is(partial.server.bodyLimitKb, 32);
  t.deepEqual(partial.clients[0], {
    clientId: 'spa',
    redirectUris: ['https://spa.example.org/cb'],
    postLogoutRedirectUris: [],
    firstParty: false,
    allowRefreshTokens: true,
  });
});

test('the shipped config/idp.example.yaml is valid', async (t) => {
  const config = await loadConfigFile(example, {});
  t.is(config.server.issuer, 'http://localhost:3000');
  t.deepEqual(
    config.clients.map((c) => c.clientId),
    ['demo-app', 'demo-spa'],
  );
});

test('${VAR} references are replaced from the environment passed in', async (t) => {
  const env = { IDP_HOST: 'login.example.org', OIDC_DB_PASSWORD: 's3cret', DEMO_APP_SECRET: 'a-long-enough-client-secret' };
  const config = await loadConfigFile(path.join(good, 'env-interpolation.yaml'), env);
  t.is(config.server.issuer, 'https://login.example.org/idp');
  t.is(config.database.url, 'postgres://oidc:s3cret@127.0.0.1:5432/oidc');
  t.is(config.clients[0]!.clientSecret, 'a-long-enough-client-secret');
});

test('${VAR} references: every unset variable is reported at its key', async (t) => {
  const error = await rejection(path.join(good, 'env-interpolation.yaml'), { OIDC_DB_PASSWORD: 's3cret' });
  t.deepEqual(error.problems, [
    { path: 'server.issuer', message: 'refers to environment variable IDP_HOST, which is not set' },
    { path: 'clients.0.clientSecret', message: 'refers to environment variable DEMO_APP_SECRET, which is not set' },
  ]);
});

test('an interpolated value is validated like a written one', (t) => {
  const error = t.throws(() => parseConfigText('clients:\n  - clientId: app\n    clientSecret: ${SECRET}\n    redirectUris: [https://app.example.org/cb]\n', { env: { SECRET: 'short' } }), {
    instanceOf: ConfigError,
  });
  t.deepEqual(error.problems, [{ path: 'clients.0.clientSecret', message: 'must be at least 16 characters (from environment variable SECRET)' }]);
});

const secretClient = (secret: string) => `clients:\n  - clientId: app\n    clientSecret: ${secret}\n    redirectUris: [https://app.example.org/cb]\n`;

test('an interpolated value stays a string where the schema wants a string, whatever it looks like', (t) => {
  for (const [written, value] of [
    ['${SECRET}', '12345678901234567890'],
    ['"${SECRET}"', '12345678901234567890'],
    ['${SECRET}', '1234567890123456.5'],
  ] as const) {
    const config = parseConfigText(secretClient(written), { env: { SECRET: value } });
    t.is(config.clients[0]!.clientSecret, value, `${written} = ${value}`);
  }
  const mail = parseConfigText('delivery:\n  mail:\n    transport: smtp\n    smtp:\n      host: mail.example.org\n      user: "${SMTP_USER}"\n      pass: "${SMTP_PASS}"\n', {
    env: { SMTP_USER: '1001', SMTP_PASS: '000123456' },
  });
  t.is(mail.delivery.mail.smtp.user, '1001');
  t.is(mail.delivery.mail.smtp.pass, '000123456', 'leading zeros kept');
  t.is(parseConfigText('ui:\n  organisation: ${ORG}\n', { env: { ORG: 'true' } }).ui.organisation, 'true');
});

test('an interpolated value is a number or boolean where the schema wants one', (t) => {
  const config = parseConfigText('server:\n  port: ${PORT}\n  trustProxy: ${TRUST}\nsspr:\n  methodsRequired: ${METHODS}\n  methods:\n    mobilePhone: ${PHONE}\n', {
    env: { PORT: '8080', TRUST: 'true', METHODS: '2', PHONE: 'false' },
  });
  t.is(config.server.port, 8080);
  t.is(config.server.trustProxy, true);
  t.is(config.sspr.methodsRequired, 2);
  t.false(config.sspr.methods.mobilePhone.enabled);
});

test('an interpolated value that is no number where one is expected is reported at its key', (t) => {
  const error = t.throws(() => parseConfigText('server:\n  port: ${PORT}\n  trustProxy: ${TRUST}\n', { env: { PORT: 'eighty', TRUST: 'yes' } }), { instanceOf: ConfigError });
  t.deepEqual(error.problems, [
    { path: 'server.port', message: 'Invalid input: expected number, received string (from environment variable PORT)' },
    { path: 'server.trustProxy', message: 'Invalid input: expected boolean, received string (from environment variable TRUST)' },
  ]);
  const range = t.throws(() => parseConfigText('server:\n  port: ${PORT}\n', { env: { PORT: '70000' } }), { instanceOf: ConfigError });
  t.is(range.problems[0]!.path, 'server.port');
  t.regex(range.problems[0]!.message, /<=65535/);
});

test('a quoted number written in the file is still a string, not a port', (t) => {
  const error = t.throws(() => parseConfigText('server:\n  port: "3000"\n', { env: {} }), { instanceOf: ConfigError });
  t.is(error.problems[0]!.path, 'server.port');
});

test('a replaced configuration reports each changed key that waits for a restart, and only those', (t) => {
  const start = parseConfig({}, { env: {} });
  const live = new LiveConfig(start);
  t.deepEqual(live.replace(parseConfig({ ui: { organisation: 'Other' }, logging: { level: 'debug' }, server: { bodyLimitKb: 64 } }, { env: {} })), []);
  t.deepEqual(
    live.replace(
      parseConfig(
        {
          server: { port: 3001, shutdownGraceSeconds: 30 },
          database: { pool: { max: 20 } },
          oidc: { ttl: { accessToken: 600 } },
          sspr: { secretsKey: 'A'.repeat(43) },
        },
        { env: {} },
      ),
    ),
    ['server.port', 'server.shutdownGraceSeconds', 'database', 'oidc', 'sspr.secretsKey'],
  );
  // Compared with the configuration at start, not with the previous edit.
  t.deepEqual(live.replace(start), []);
});
