/**
 * The generated configuration reference (src/config/docs.ts) is complete, shows the schema's
 * defaults and ranges, and README.md carries the current version of it.
 */
import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { configSchema, needsRestart, restartKeys } from '../src/config/schema.ts';
import { configReference, extractReferenceBlock, replaceReferenceBlock, REFERENCE_END, REFERENCE_START } from '../src/config/docs.ts';

interface JsonSchemaNode {
  type?: string;
  properties?: Record<string, JsonSchemaNode>;
  items?: JsonSchemaNode;
}

/**
 * Every leaf key, found independently of docs.ts: through zod's JSON Schema export of the input
 * side (what the file holds). Lists of mappings are written `clients[].key`.
 */
function schemaLeafKeys(): string[] {
  const keys: string[] = [];
  const walk = (node: JsonSchemaNode, at: string): void => {
    if (node.type === 'object' && node.properties) {
      for (const [name, child] of Object.entries(node.properties)) walk(child, at ? `${at}.${name}` : name);
    } else if (node.type === 'array' && node.items?.type === 'object') {
      walk(node.items, `${at}[]`);
    } else {
      keys.push(at);
    }
  };
  walk(z.toJSONSchema(configSchema, { io: 'input' }) as JsonSchemaNode, '');
  return keys;
}

/** The reference's table rows, by key: [type, default, range, description]. */
function rows(reference: string): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const line of reference.split('\n')) {
    const match = /^\| `([^`]+)` \| (.*) \|$/.exec(line);
    if (match) found.set(match[1]!, match[2]!.split(' | '));
  }
  return found;
}

const reference = configReference();
const table = rows(reference);

test('every leaf key of the schema has a row, and no other key does', (t) => {
  const keys = schemaLeafKeys();
  t.true(keys.length > 30, `found only ${keys.length} keys in the schema`);
  for (const key of keys) t.true(table.has(key), `${key} is missing from the configuration reference`);
  t.deepEqual([...table.keys()].sort(), [...keys].sort());
});

test('the reference is deterministic', (t) => {
  t.is(configReference(), reference);
});

test('one table per section, in schema order', (t) => {
  const headings = reference.split('\n').filter((line) => line.startsWith('### '));
  t.deepEqual(headings, [
    '### `server`',
    '### `database`',
    '### `logging`',
    '### `oidc`',
    '### `oidc.ttl`',
    '### `clients[]`',
    '### `passwords.argon2`',
    '### `passwordPolicy`',
    '### `lockout`',
    '### `throttle`',
    '### `audit`',
    '### `ui`',
    '### `sspr`',
    '### `mfa`',
    '### `delivery`',
    '### `directory`',
    '### `metrics`',
  ]);
  // Nested keys without a section of their own stay in their parent's table.
  const databaseTable = reference.slice(reference.indexOf('### `database`'), reference.indexOf('### `logging`'));
  t.true(databaseTable.includes('| `database.pool.min` |'));
});

test('defaults shown are the schema defaults', (t) => {
  const parsed = configSchema.parse({});
  const shown = (key: string) => table.get(key)?.[1];
  t.is(shown('server.port'), '`3000`');
  t.is(shown('passwords.argon2.memoryCost'), '`19456`');
  t.is(shown('oidc.ttl.accessToken'), '`3600`');
  t.is(shown('server.port'), `\`${parsed.server.port}\``);
  t.is(shown('passwords.argon2.memoryCost'), `\`${parsed.passwords.argon2.memoryCost}\``);
  t.is(shown('oidc.ttl.accessToken'), `\`${parsed.oidc.ttl.accessToken}\``);
  t.is(shown('database.client'), `\`${parsed.database.client}\``);
  t.is(shown('logging.level'), `\`${parsed.logging.level}\``);
  t.is(shown('server.trustProxy'), `\`${parsed.server.trustProxy}\``);
  t.is(shown('clients[].postLogoutRedirectUris'), '`[]`');
  t.is(shown('clients[].clientId'), 'required');
  t.is(shown('server.host'), '—');
});

test('types, enum values, ranges and descriptions come from the schema', (t) => {
  t.deepEqual(table.get('server.port'), ['integer', '`3000`', '0–65535', 'TCP port to listen on. Needs a restart.']);
  t.is(table.get('database.client')?.[0], 'one of `sqlite`, `postgres`');
  t.is(table.get('ui.defaultLocale')?.[0], 'one of `en`, `nl`');
  t.is(table.get('oidc.ttl.refreshToken')?.[2], '3600–31536000');
  t.is(table.get('passwords.argon2.memoryCost')?.[2], '7168–1048576');
  t.is(table.get('clients[].clientSecret')?.[2], 'length 16–512');
  t.is(table.get('clients[].redirectUris')?.[0], 'list of string');
  t.regex(table.get('clients[].redirectUris')?.[2] ?? '', /^at least 1 item; each: must be an absolute http\(s\) URL/);
  t.is(table.get('server.trustProxy')?.[2], '—');
  t.is(table.get('oidc.signingAlgorithm')?.[3], 'Algorithm of the signing key generated on first run and by `keys rotate`. Needs a restart.');
});

test('"Needs a restart." is said exactly for the keys a reload reports as waiting for a restart', (t) => {
  for (const [key, [, , , description]] of table) {
    const said = (description ?? '').match(/restart/gi)?.length ?? 0;
    t.is(said, needsRestart(key) ? 1 : 0, `${key}: ${description}`);
    if (needsRestart(key)) t.true(description!.endsWith('Needs a restart.'), key);
  }
  // What is read only at start: the listener, the database, the Provider's options, the secrets key, the directory, metrics.
  t.deepEqual([...restartKeys], ['server.issuer', 'server.port', 'server.host', 'server.trustProxy', 'server.proxyHops', 'server.shutdownGraceSeconds', 'database', 'oidc', 'sspr.secretsKey', 'directory', 'metrics']);
  t.true(needsRestart('database.pool.max'));
  t.true(needsRestart('oidc.ttl.accessToken'));
  t.false(needsRestart('logging.level'), 'the log level follows reloads');
  t.false(needsRestart('server.bodyLimitKb'));
  t.false(needsRestart('clients[].clientSecret'));
});

test('replacing the block between the markers', (t) => {
  const before = `# Title\n\nIntro.\n\n${REFERENCE_START}\nstale\n${REFERENCE_END}\n\nAfter.\n`;
  const after = replaceReferenceBlock(before, 'fresh\n');
  t.is(after, `# Title\n\nIntro.\n\n${REFERENCE_START}\nfresh\n${REFERENCE_END}\n\nAfter.\n`);
  t.is(extractReferenceBlock(after!), 'fresh\n');
  t.is(replaceReferenceBlock(after!, 'fresh\n'), after);
  t.is(replaceReferenceBlock('# No markers\n', 'x'), undefined);
  t.is(replaceReferenceBlock(`${REFERENCE_END}\n${REFERENCE_START}\n`, 'x'), undefined);
});

test('README.md carries the current configuration reference', (t) => {
  const readme = fileURLToPath(new URL('../README.md', import.meta.url));
  if (!existsSync(readme)) {
    t.fail(`README.md not found at ${readme}: it must hold the configuration reference between ${REFERENCE_START} and ${REFERENCE_END}; run \`npm run docs:config\``);
    return;
  }
  const block = extractReferenceBlock(readFileSync(readme, 'utf8'));
  if (block === undefined) {
    t.fail(`README.md has no ${REFERENCE_START} … ${REFERENCE_END} block: add the markers, then run \`npm run docs:config\``);
    return;
  }
  t.is(block, reference, 'the configuration reference in README.md is out of date: run `npm run docs:config`');
});
