/** The LDAP client against a real slapd (ppolicy): lookups, filter injection, binds, Password Modify, unlock, faults. */
import test from 'ava';
import { DirectoryClient, dnKey } from '../src/directory/client.ts';
import { DirectoryError, DirectoryPolicyRefusal } from '../src/directory/errors.ts';
import { parseConfig } from '../src/config/load.ts';
import { startSlapd, BASE_DN, PEOPLE, SERVICE_DN, SERVICE_PASSWORD, userDn, type TestSlapd } from './helpers/slapd.ts';

let slapd: TestSlapd;
test.before(async () => {
  slapd = await startSlapd();
});
test.after.always(async () => {
  await slapd?.stop();
});

const client = (extra: Record<string, unknown> = {}) =>
  new DirectoryClient(parseConfig({ directory: { url: slapd.url, bindDn: SERVICE_DN, bindPassword: SERVICE_PASSWORD, baseDn: PEOPLE, timeouts: { connectSeconds: 2, operationSeconds: 5 }, ...extra } }).directory!);

test('finds a user by exact username, with non-ASCII values, and a user without mail', async (t) => {
  const zoe = await client().findUser('zoë');
  t.is(zoe.entry?.displayName, 'Zoë Ærøskøbing-Müller');
  t.is(zoe.entry?.dn, userDn('zoë'));
  const nomail = await client().findUser('nomail');
  t.truthy(nomail.entry);
  t.is(nomail.entry?.mail, undefined);
  t.is((await client().findUser('nobody')).entry, undefined);
});

test('filter injection in a username matches nothing (EqualityFilter, not filter text)', async (t) => {
  for (const typed of ['*)(uid=*', '*', 'alice)(|(uid=*', 'al*']) {
    const found = await client().findUser(typed);
    t.is(found.entry, undefined, typed);
    t.is(found.duplicates, 0, typed);
  }
});

test('verifyPassword binds as the user: right, wrong, empty', async (t) => {
  t.true(await client().verifyPassword(userDn('alice'), 'alice directory pw 1'));
  t.false(await client().verifyPassword(userDn('alice'), 'wrong'));
  t.false(await client().verifyPassword(userDn('alice'), ''));
});

test('setPassword (RFC 3062) as the service account; ppolicy refusals are DirectoryPolicyRefusal', async (t) => {
  const c = client();
  const quality = await t.throwsAsync(c.setPassword(userDn('nomail'), 'short'), { instanceOf: DirectoryPolicyRefusal });
  t.is(quality.problem, 'directory_quality');
  await c.setPassword(userDn('nomail'), 'nomail new password 2');
  t.true(await c.verifyPassword(userDn('nomail'), 'nomail new password 2'));
  t.false(await c.verifyPassword(userDn('nomail'), 'nomail directory pw 1'));
  const history = await t.throwsAsync(c.setPassword(userDn('nomail'), 'nomail directory pw 1'), { instanceOf: DirectoryPolicyRefusal });
  t.is(history.problem, 'directory_history');
});

test('a ppolicy lockout is seen and unlocked', async (t) => {
  const c = client();
  const dn = userDn('bob');
  for (let i = 0; i < 3; i += 1) t.false(await c.verifyPassword(dn, 'wrong'));
  t.true(await c.isLocked(dn));
  t.false(await c.verifyPassword(dn, 'bob directory pw 1'), 'locked: even the right password fails');
  await c.unlock(dn);
  t.false(await c.isLocked(dn));
  t.true(await c.verifyPassword(dn, 'bob directory pw 1'));
  await c.unlock(dn); // not locked: nothing to do
});

test('faults: wrong service password, unreachable host, TLS failure, missing base DN', async (t) => {
  const refused = await t.throwsAsync(client({ bindPassword: 'wrong' }).ping(), { instanceOf: DirectoryError });
  t.is(refused.code, 'DIRECTORY_SERVICE_REFUSED');
  t.is(refused.status, 502);
  // The discard port: nothing listens there (a released free port may be taken by another test's server).
  const down = await t.throwsAsync(client({ url: 'ldap://127.0.0.1:9' }).ping(), { instanceOf: DirectoryError });
  t.is(down.code, 'DIRECTORY_UNREACHABLE');
  t.is(down.status, 503);
  // slapd speaks plain LDAP on this port: a TLS handshake fails.
  const tls = await t.throwsAsync(client({ url: `ldaps://127.0.0.1:${slapd.port}` }).ping(), { instanceOf: DirectoryError });
  t.is(tls.code, 'DIRECTORY_UNREACHABLE');
  const missing = await t.throwsAsync(client({ baseDn: `ou=nowhere,${BASE_DN}` }).ping(), { instanceOf: DirectoryError });
  t.is(missing.code, 'DIRECTORY_MISCONFIGURED');
});

test('dnKey: escaped, hex-escaped, spaced and differently cased forms of a DN are one key', (t) => {
  t.is(dnKey('cn=Smith\\2C John,ou=people,dc=example,dc=org'), dnKey('CN=smith\\, john , OU=People,dc=example,dc=org'));
  t.is(dnKey('uid=zo\\C3\\AB,ou=people'), dnKey('uid=zoë,ou=people'));
  t.is(dnKey('cn=a+uid=b,dc=x'), dnKey('uid=b+cn=a,dc=x'));
  t.not(dnKey('cn=a\\,b,dc=x'), dnKey('cn=a,cn=b,dc=x'));
  t.not(dnKey('cn=a b,dc=x'), dnKey('cn=ab,dc=x'));
});
