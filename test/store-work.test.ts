import test from 'ava';
import type { Knex } from 'knex';
import type { RunningIdp } from './helpers/idp.ts';
import { startSsprIdp, type SsprTestbed } from './helpers/sspr-idp.ts';
import { Browser, type Page } from './helpers/browser.ts';
import { discover, authorizationRequest, newBrowser, signIn } from './helpers/rp.ts';

// Timing must not tell an unknown account from a real one (issue 13 #4). Not measured with a clock:
// the statements each path sends to the store (knex's 'query' event, on SQLite and PostgreSQL) must
// be the same, text for text.

let bed: SsprTestbed;
let idp: RunningIdp;

test.before(async () => {
  bed = await startSsprIdp({ enabled: 'all', methodsRequired: 1, methods: { email: true }, registration: { requireOnSignIn: false }, captcha: { enabled: false } });
  idp = bed.idp;
  // A real account that can sign in but has no recovery method: "not registered" at /reset.
  await idp.idp.parts.users.create({ username: 'real', password: 'real password 123' });
});
test.after.always(async () => {
  await bed?.close();
});

/** The SQL (placeholders, not values) of every statement `run` sends to the store, sorted. */
async function statementsOf(run: () => Promise<unknown>): Promise<string[]> {
  const db: Knex = idp.idp.parts.store.db;
  const seen: string[] = [];
  const listener = (query: { sql: string }) => seen.push(query.sql);
  db.on('query', listener);
  try {
    await run();
  } finally {
    db.removeListener('query', listener);
  }
  return seen.sort();
}

test.serial('GET /reset/flow: an unknown user id and a real account without methods cost the store the same statements', async (t) => {
  const flowOf = async (username: string) => {
    const browser = new Browser();
    const form = await browser.navigate(`${idp.issuer}/reset`);
    const page = await browser.submit(form, '/reset', { username });
    t.regex(page.html, /SSPR_NOT_REGISTERED/, `${username}: refused as not registered`);
    return browser;
  };
  const unknown = await flowOf('nobody-by-this-name');
  const real = await flowOf('real');
  let unknownPage: Page | undefined;
  let realPage: Page | undefined;
  const forUnknown = await statementsOf(async () => (unknownPage = await unknown.navigate(`${idp.issuer}/reset/flow`)));
  const forReal = await statementsOf(async () => (realPage = await real.navigate(`${idp.issuer}/reset/flow`)));
  t.is(unknownPage!.status, 200);
  t.is(realPage!.status, 200);
  t.true(forReal.length > 0);
  t.deepEqual(forUnknown, forReal);
});

test.serial('sign-in: an unknown user and a wrong password for a real account cost the store the same statements', async (t) => {
  const config = await discover({ issuer: idp.issuer, clientId: 'confidential-app', clientSecret: 'confidential-app-secret-0123456789' });
  const attempt = async (username: string) => {
    const browser = newBrowser();
    const page = await browser.navigate((await authorizationRequest(config)).url.href);
    let after: Page | undefined;
    const statements = await statementsOf(async () => (after = await signIn(browser, page, username, 'not the password 1')));
    t.is(after!.status, 200, `${username}: the sign-in page again`);
    return statements;
  };
  const forUnknown = await attempt('nobody-by-this-name');
  const forReal = await attempt('real');
  t.true(forReal.some((sql) => /^update\b/i.test(sql)), 'the real account is counted (claim and lock check)');
  t.deepEqual(forUnknown, forReal);
  // A second round: the real account has a failure counted now, and still nothing tells them apart.
  t.deepEqual(await attempt('nobody-by-this-name'), await attempt('real'));
});
