/**
 * Database round trips of one whole code flow (authorize, sign-in page, credentials, callback,
 * token). Counted, not timed: every statement costs the event loop, the pool and, for a write, a
 * commit, so a statement that creeps in is a regression even when no clock notices it.
 */
import test from 'ava';
import { idpBed } from './helpers/once-per-file.ts';
import { discover, login } from './helpers/rp.ts';

const idp = idpBed({}, (idp) => idp.idp.parts.users.create({ username: 'rita', password: 'rita password 12' }));

const MODELS = /^(Session|Interaction|Grant|AuthorizationCode|AccessToken|RefreshToken)$/;

/** "select oidc_payloads Interaction", "update users", ...: verb, table and, for oidc_payloads, the model. */
function shape(sql: string, bindings: readonly unknown[]): string {
  const verb = sql.trim().split(/\s+/)[0]!.toLowerCase();
  const table = /(?:from|into|update)\s+[`"]?(\w+)/i.exec(sql)?.[1] ?? '?';
  const model = table === 'oidc_payloads' ? bindings.find((b): b is string => typeof b === 'string' && MODELS.test(b)) : undefined;
  return model ? `${verb} ${table} ${model}` : `${verb} ${table}`;
}

async function statementsOfOneLogin(): Promise<string[]> {
  const config = await discover({ issuer: idp.issuer, clientId: 'confidential-app', clientSecret: 'confidential-app-secret-0123456789' });
  await login(config, 'rita', 'rita password 12'); // the first one also loads the signing keys and such
  const seen: string[] = [];
  const listener = (q: { sql: string; bindings?: readonly unknown[] }) => seen.push(shape(q.sql, q.bindings ?? []));
  idp.idp.parts.store.db.on('query', listener);
  try {
    await login(config, 'rita', 'rita password 12');
  } finally {
    idp.idp.parts.store.db.off('query', listener);
  }
  return seen;
}

const count = (xs: string[], s: string) => xs.filter((x) => x === s).length;

test('one login reads its interaction once per request and finishes the sign-in without reading it again', async (t) => {
  const statements = await statementsOfOneLogin();
  // GET /interaction/:uid, POST .../login, GET /auth/:uid: one read each; finishing the prompt
  // saves the interaction loaded by the same request.
  t.is(count(statements, 'select oidc_payloads Interaction'), 3, statements.join('\n'));
  t.is(count(statements, 'insert oidc_payloads Interaction'), 2, 'created at /auth, saved with the result');
  t.true(statements.length <= 22, `${statements.length} statements:\n${statements.join('\n')}`);
});
