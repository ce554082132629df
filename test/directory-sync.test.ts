/** Sync from a real slapd into the store: create, update, groups, directory-set numbers, disable (revoking), dry run, faults. */
import test from 'ava';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseConfig } from '../src/config/load.ts';
import { openDatabase, migrateLatest } from '../src/store/db.ts';
import { createStore } from '../src/store/index.ts';
import { UserService } from '../src/users/service.ts';
import { createPasswordHasher } from '../src/security/password.ts';
import { createLogger } from '../src/logging.ts';
import { systemClock } from '../src/clock.ts';
import { DirectoryClient } from '../src/directory/client.ts';
import { DirectorySync } from '../src/directory/sync.ts';
import { DirectoryError } from '../src/directory/errors.ts';
import { freshDatabase } from './helpers/db.ts';
import { runCli, writeYaml } from './helpers/process.ts';
import { startSlapd, BASE_DN, PEOPLE, SERVICE_DN, SERVICE_PASSWORD, userDn, userLdif, type TestSlapd } from './helpers/slapd.ts';
import { testArgon2 } from './helpers/idp.ts';

async function setup(t: { teardown(fn: () => Promise<void>): void }, slapdOptions: Parameters<typeof startSlapd>[0] = {}, directory: Record<string, unknown> = {}) {
  const slapd = await startSlapd(slapdOptions);
  t.teardown(() => slapd.stop());
  const db = await freshDatabase();
  t.teardown(() => db.cleanup());
  const config = parseConfig({
    database: db.config,
    passwords: { argon2: testArgon2 },
    directory: { url: slapd.url, bindDn: SERVICE_DN, bindPassword: SERVICE_PASSWORD, baseDn: BASE_DN, groupBaseDn: `ou=groups,${BASE_DN}`, timeouts: { connectSeconds: 2, operationSeconds: 5 }, ...directory },
  });
  const knex = openDatabase(config.database);
  t.teardown(() => knex.destroy());
  await migrateLatest(knex, config.database.schema);
  const store = createStore(knex);
  const users = new UserService(store, createPasswordHasher(() => config.passwords.argon2), systemClock);
  const client = new DirectoryClient(config.directory!);
  const sync = new DirectorySync({ client, store, users, clock: systemClock, log: createLogger('silent'), defaultCountry: () => 'NL' });
  return { slapd, db, config, store, users, sync };
}

test('a sync creates directory users (onpremises, no password, groups, numbers set by the directory), a second changes nothing', async (t) => {
  const { store, users, sync } = await setup(t);
  const report = await sync.run();
  t.deepEqual(report.created.map((c) => c.username).sort(), ['alice', 'bob', 'nomail', 'zoë']);
  t.is(report.disabled.length, 0);
  const alice = (await users.find('alice'))!;
  t.is(alice.passwordSource, 'onpremises');
  t.is(alice.passwordHash, null);
  t.is(alice.email, 'alice@example.org');
  t.deepEqual(await users.groupsOf(alice.id), ['Staff']);
  t.deepEqual((await users.groupsOf((await users.find('bob'))!.id)).sort(), ['IT Admins', 'Staff']);
  const methods = await store.sspr.methods(alice.id);
  t.deepEqual(methods.map((m) => [m.kind, m.value]), [['mobile_phone', '+31611111111'], ['office_phone', '+31201234567']]);
  t.true(await store.directory.isDirectoryMethod(alice.id, 'mobile_phone'));
  t.is((await users.find('ZOË'))!.displayName, 'Zoë Ærøskøbing-Müller');
  t.is((await users.find('nomail'))!.email, null);
  const again = await sync.run();
  t.is(again.created.length + again.updated.length + again.disabled.length, 0);
  t.is(again.unchanged, 4);
});

test('a number the user registered stays; a user gone from the directory is disabled with its tokens revoked, not deleted', async (t) => {
  const { slapd, store, users, sync } = await setup(t);
  await sync.run();
  const bob = (await users.find('bob'))!;
  await store.sspr.putMethod(bob.id, 'mobile_phone', '+31699999999', Date.now());
  await store.oidc.upsert('AccessToken', 'tok-bob', { accountId: bob.id, grantId: 'grant-bob' }, Date.now() + 3_600_000);
  slapd.modify(`dn: ${userDn('bob')}\nchangetype: delete\n`);
  slapd.modify(`dn: ${userDn('alice')}\nchangetype: modify\nreplace: cn\ncn: Alice Renamed\n`);
  const dry = await sync.run({ dryRun: true });
  t.deepEqual(dry.disabled, ['bob']);
  t.deepEqual(dry.updated, [{ username: 'alice', changes: ['displayName'] }]);
  t.is((await users.find('bob'))!.status, 'enabled', 'dry run changes nothing');
  const report = await sync.run();
  t.deepEqual(report.disabled, ['bob']);
  const after = (await users.find('bob'))!;
  t.is(after.status, 'disabled');
  t.is(await store.oidc.find('AccessToken', 'tok-bob', Date.now()), undefined);
  t.is((await store.sspr.methods(bob.id)).find((m) => m.kind === 'mobile_phone')?.value, '+31699999999');
  t.is((await users.find('alice'))!.displayName, 'Alice Renamed');
  const audit = await store.audit.list({ type: 'directory.user_disabled' });
  t.deepEqual(audit.map((e) => e.userId), [bob.id]);
});

test('entries missing the username, duplicate usernames and a local cloud account of the same name are skipped and reported', async (t) => {
  const extra = [
    `dn: cn=nouid,${PEOPLE}\nobjectClass: inetOrgPerson\ncn: nouid\nsn: x`,
    `dn: ou=more,${BASE_DN}\nobjectClass: organizationalUnit\nou: more`,
    userLdif({ uid: 'alice', cn: 'Second Alice', password: 'x' }).replace(`uid=alice,${PEOPLE}`, `uid=alice,ou=more,${BASE_DN}`),
  ].join('\n\n');
  const { users, sync } = await setup(t, { extraLdif: extra });
  await users.create({ username: 'nomail', password: 'local password 1' });
  const report = await sync.run();
  const reasons = report.skipped.map((s) => s.reason).join('\n');
  t.regex(reasons, /no uid attribute/);
  t.regex(reasons, /duplicate username alice/);
  t.regex(reasons, /a local cloud account nomail exists/);
  t.is((await users.find('nomail'))!.passwordSource, 'cloud', 'the local account is not taken over');
});

test('a base DN with no users disables nobody; slapd killed mid-sync disables nobody and says the directory is unreachable', async (t) => {
  const many = Array.from({ length: 60 }, (_, i) => userLdif({ uid: `user${i}`, cn: `User ${i}`, password: 'x' })).join('\n\n');
  const { slapd, config, store, users } = await setup(t, { extraLdif: many }, { pageSize: 10 });
  const client = new DirectoryClient(config.directory!);
  const sync = new DirectorySync({ client, store, users, clock: systemClock, log: createLogger('silent'), defaultCountry: () => 'NL' });
  t.is((await sync.run()).created.length, 64);
  const empty = new DirectorySync({ client: new DirectoryClient({ ...config.directory!, baseDn: `ou=empty,${BASE_DN}` }), store, users, clock: systemClock, log: createLogger('silent'), defaultCountry: () => 'NL' });
  const none = await empty.run();
  t.true(none.emptyDirectory);
  t.is(none.disabled.length, 0);
  let pages = 0;
  const error = await t.throwsAsync(sync.run({ onPage: async () => { if (++pages === 2) await slapd.kill(); } }), { instanceOf: DirectoryError });
  t.is(error.code, 'DIRECTORY_UNREACHABLE');
  t.is((await users.list()).filter((u) => u.status === 'disabled').length, 0);
});

test('oidc-sspr directory sync --dry-run prints what it would do; a wrong service password is DIRECTORY_SERVICE_REFUSED', async (t) => {
  const { slapd, db } = await setup(t);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dir-cli-'));
  const file = path.join(dir, 'idp.yaml');
  await writeYaml(file, { database: db.config, directory: { url: slapd.url, bindDn: SERVICE_DN, bindPassword: '${LDAP_PW}', baseDn: PEOPLE, groupBaseDn: `ou=groups,${BASE_DN}` } });
  const dry = await runCli(['directory', 'sync', '--dry-run', '--config', file], { env: { LDAP_PW: SERVICE_PASSWORD } });
  t.is(dry.code, 0, dry.stderr);
  t.regex(dry.stdout, /would create alice/);
  t.regex(dry.stdout, /dry run, nothing changed: 4 to create/);
  const real = await runCli(['directory', 'sync', '--config', file], { env: { LDAP_PW: SERVICE_PASSWORD } });
  t.regex(real.stdout, /4 created/);
  const wrong = await runCli(['directory', 'sync', '--config', file], { env: { LDAP_PW: 'wrong' } });
  t.not(wrong.code, 0);
  t.regex(wrong.stderr + wrong.stdout, /DIRECTORY_SERVICE_REFUSED|service account/);
});

test('a directory name that mixes scripts or looks like an existing user is reported, not created, and the sync goes on', async (t) => {
  const extra = [
    userLdif({ uid: 'rnallory', cn: 'Not Mallory', password: 'x' }),
    userLdif({ uid: 'm\u0430llory', cn: 'Mixed Mallory', password: 'x' }), // Cyrillic а
  ].join('\n\n');
  const { users, sync } = await setup(t, { extraLdif: extra });
  await users.create({ username: 'mallory', password: 'local password 1' });
  const report = await sync.run();
  const reasons = report.skipped.map((s) => s.reason).join('\n');
  t.regex(reasons, /username rnallory can be mistaken for the existing user mallory/);
  t.regex(reasons, /invalid username: username mixes scripts \(Latin, Cyrillic\)/);
  t.is(await users.find('rnallory'), undefined);
  t.deepEqual(report.created.map((c) => c.username).sort(), ['alice', 'bob', 'nomail', 'zoë'], 'the rest is synced');
  t.is((await sync.run()).skipped.filter((s) => /mistaken/.test(s.reason)).length, 1, 'reported again at the next sync');
});

/** An entry added to the running slapd (ldapmodify as the rootdn). */
const addEntry = (ldif: string) => ldif.replace(/\n/, '\nchangetype: add\n') + '\n';

test('groups: the sync replaces the memberships it gave, keeps those added here, and leaves all alone when the directory returns no groups', async (t) => {
  const { slapd, config, store, users, sync } = await setup(t);
  await sync.run();
  const alice = (await users.find('alice'))!;
  const zoe = (await users.find('zoë'))!;
  t.true(await users.addToGroup('alice', 'Helpdesk'), 'a group an administrator adds here');
  t.true(await users.addToGroup('zoë', 'IT Admins'));
  slapd.modify(`dn: cn=Staff,ou=groups,${BASE_DN}\nchangetype: modify\ndelete: member\nmember: ${userDn('alice')}\nmember: ${userDn('zoë')}\n`);
  slapd.modify(`dn: cn=IT Admins,ou=groups,${BASE_DN}\nchangetype: modify\nadd: member\nmember: ${userDn('alice')}\nmember: ${userDn('zoë')}\n`);
  const report = await sync.run();
  t.deepEqual(report.updated.map((u) => [u.username, u.changes]).sort(), [['alice', ['groups']], ['zoë', ['groups']]]);
  t.deepEqual((await users.groupsOf(alice.id)).sort(), ['Helpdesk', 'IT Admins'], 'Staff went (the directory gave it), Helpdesk stayed');
  t.deepEqual((await users.groupsOf(zoe.id)).sort(), ['IT Admins']);
  t.is((await sync.run()).unchanged, 4, 'a group both give is no change at every sync');
  // The directory drops zoë from IT Admins: the membership an administrator added here stays.
  slapd.modify(`dn: cn=IT Admins,ou=groups,${BASE_DN}\nchangetype: modify\ndelete: member\nmember: ${userDn('zoë')}\n`);
  await sync.run();
  t.deepEqual(await users.groupsOf(zoe.id), ['IT Admins']);
  // A group filter that matches nothing: no membership changes, and the report says so.
  const blind = new DirectorySync({ client: new DirectoryClient({ ...config.directory!, groupFilter: '(cn=no such group)' }), store, users, clock: systemClock, log: createLogger('silent'), defaultCountry: () => 'NL' });
  const none = await blind.run();
  t.true(none.noGroups);
  t.is(none.updated.length, 0);
  t.deepEqual((await users.groupsOf(alice.id)).sort(), ['Helpdesk', 'IT Admins']);
  t.deepEqual((await users.groupsOf((await users.find('bob'))!.id)).sort(), ['IT Admins', 'Staff']);
});

test('a user the sync disabled is enabled again when it is back in the directory; one an administrator disabled stays disabled', async (t) => {
  const { slapd, store, users, sync } = await setup(t);
  await sync.run();
  await users.setStatus('alice', 'disabled'); // an administrator's decision
  for (const uid of ['bob', 'alice']) slapd.modify(`dn: ${userDn(uid)}\nchangetype: delete\n`);
  t.deepEqual((await sync.run()).disabled, ['bob'], 'alice was disabled already');
  t.is((await users.find('bob'))!.status, 'disabled');
  slapd.modify(addEntry(userLdif({ uid: 'bob', cn: 'Bob Admin', sn: 'Admin', mail: 'bob@example.org', mobile: '+31 6 22222222', password: 'bob directory pw 1' })));
  slapd.modify(addEntry(userLdif({ uid: 'alice', cn: 'Alice Directory', sn: 'Directory', mail: 'alice@example.org', password: 'alice directory pw 1' })));
  const dry = await sync.run({ dryRun: true });
  t.deepEqual(dry.updated.find((u) => u.username === 'bob')?.changes, ['enabled']);
  t.is((await users.find('bob'))!.status, 'disabled', 'dry run changes nothing');
  await sync.run();
  t.is((await users.find('bob'))!.status, 'enabled');
  t.is((await users.find('alice'))!.status, 'disabled', 'the administrator disabled alice, not the sync');
  const bob = (await users.find('bob'))!;
  t.deepEqual((await store.audit.list({ type: 'directory.user_enabled' })).map((e) => [e.userId, e.details?.reason]), [[bob.id, 'back_in_directory']]);
  // Disabled by the sync once more, then an administrator disables it too: it stays disabled when it comes back.
  slapd.modify(`dn: ${userDn('bob')}\nchangetype: delete\n`);
  await sync.run();
  await users.setStatus('bob', 'disabled');
  slapd.modify(addEntry(userLdif({ uid: 'bob', cn: 'Bob Admin', sn: 'Admin', mail: 'bob@example.org', mobile: '+31 6 22222222', password: 'bob directory pw 1' })));
  await sync.run();
  t.is((await users.find('bob'))!.status, 'disabled');
});

test('slapd killed in the middle of a first sync: what was read stays, nobody is disabled, the audit says where it stopped, the next sync completes', async (t) => {
  const many = Array.from({ length: 60 }, (_, i) => userLdif({ uid: `user${i}`, cn: `User ${i}`, password: 'x' })).join('\n\n');
  const { slapd, store, users, sync } = await setup(t, { extraLdif: many }, { pageSize: 10 });
  let pages = 0;
  const error = await t.throwsAsync(sync.run({ onPage: async () => { if (++pages === 2) await slapd.kill(); } }), { instanceOf: DirectoryError });
  t.is(error.code, 'DIRECTORY_UNREACHABLE');
  const [failure] = await store.audit.list({ type: 'directory.sync' });
  t.is(failure!.outcome, 'failure');
  t.is(failure!.details?.error, 'DIRECTORY_UNREACHABLE');
  t.is(failure!.details?.pages, 2);
  t.is(failure!.details?.disabled, 0);
  const kept = (await users.list({ limit: 1000 })).length;
  t.is(kept, Number(failure!.details?.created), 'every user the audit counts is there');
  t.true(kept >= 10 && kept < 64);
  await slapd.restart();
  const next = await sync.run();
  t.is(next.created.length, 64 - kept);
  t.is(next.disabled.length, 0);
  t.is((await users.list({ limit: 1000 })).filter((u) => u.status === 'enabled').length, 64);
  t.is((await store.audit.list({ type: 'directory.sync' })).at(-1)?.outcome, 'success');
});

test('non-ASCII and escaped DNs: users and their group memberships are matched; a mapped attribute no entry has falls back', async (t) => {
  const extra = [
    `dn:: ${Buffer.from(`ou=Réception,${BASE_DN}`).toString('base64')}\nobjectClass: organizationalUnit\nou:: ${Buffer.from('Réception').toString('base64')}`,
    userLdif({ uid: 'jürgen', cn: 'Jürgen Øster', password: 'x' }).replace(`uid=jürgen,${PEOPLE}`, `uid=jürgen,ou=Réception,${BASE_DN}`).replace(/^dn:: .*$/m, `dn:: ${Buffer.from(`uid=jürgen,ou=Réception,${BASE_DN}`).toString('base64')}`),
    userLdif({ uid: 'smith', cn: 'Smith, John', password: 'x' }).replace(/^dn: .*$/m, `dn: cn=Smith\\, John,${PEOPLE}`),
    `dn:: ${Buffer.from(`cn=Équipe,ou=groups,${BASE_DN}`).toString('base64')}\nobjectClass: groupOfNames\ncn:: ${Buffer.from('Équipe').toString('base64')}\nmember:: ${Buffer.from(`uid=jürgen,ou=Réception,${BASE_DN}`).toString('base64')}\nmember: cn=Smith\\, John,${PEOPLE}`,
  ].join('\n\n');
  const { users, sync } = await setup(t, { extraLdif: extra }, { attributes: { displayName: 'displayName' } });
  const report = await sync.run();
  t.deepEqual(report.skipped, []);
  const jurgen = (await users.find('JÜRGEN'))!;
  t.deepEqual(await users.groupsOf(jurgen.id), ['Équipe']);
  t.deepEqual(await users.groupsOf((await users.find('smith'))!.id), ['Équipe']);
  t.is(jurgen.displayName, 'jürgen', 'no displayName attribute: the username stands in');
  t.is((await sync.run()).unchanged, 6);
});

test('a service account whose size limit is below the directory: DIRECTORY_MISCONFIGURED (size_limit_exceeded), audited, nobody disabled', async (t) => {
  const many = Array.from({ length: 510 }, (_, i) => userLdif({ uid: `user${i}`, cn: `User ${i}`, password: 'x' })).join('\n\n');
  const { store, users, sync } = await setup(t, { extraLdif: many, serviceSizeLimit: true }, { pageSize: 100 });
  const error = await t.throwsAsync(sync.run(), { instanceOf: DirectoryError });
  t.is(error.code, 'DIRECTORY_MISCONFIGURED');
  t.is(error.reason, 'size_limit_exceeded');
  t.like((await store.audit.list({ type: 'directory.sync' })).at(-1)?.details, { error: 'DIRECTORY_MISCONFIGURED', reason: 'size_limit_exceeded', disabled: 0 });
  t.is((await users.list({ limit: 1000 })).filter((u) => u.status === 'disabled').length, 0);
});

test('a duplicate read before the entry a user is linked to does not take the account over', async (t) => {
  const { slapd, users, sync } = await setup(t);
  await sync.run();
  const alice = (await users.find('alice'))!;
  const aliceLdif = userLdif({ uid: 'alice', cn: 'Alice Directory', sn: 'Directory', mail: 'alice@example.org', mobile: '+31 6 11111111', telephoneNumber: '+31 20 1234567', password: 'alice directory pw 1' });
  slapd.modify(addEntry(`dn: ou=more,${BASE_DN}\nobjectClass: organizationalUnit\nou: more`));
  slapd.modify(addEntry(userLdif({ uid: 'alice', cn: 'Another Alice', password: 'other alice pw 1' }).replace(`uid=alice,${PEOPLE}`, `uid=alice,ou=more,${BASE_DN}`)));
  // The linked entry is recreated: the search now returns the other one first.
  slapd.modify(`dn: ${userDn('alice')}\nchangetype: delete\n`);
  slapd.modify(addEntry(aliceLdif));
  t.regex(slapd.search(BASE_DN, '(uid=alice)', 'dn').split('\n').find((l) => l.startsWith('dn:'))!, /ou=more/, 'the other entry comes first');
  const report = await sync.run();
  t.deepEqual(report.skipped.map((s) => s.dn), [`uid=alice,ou=more,${BASE_DN}`]);
  t.regex(report.skipped[0]!.reason, /the entry it is linked to, uid=alice,ou=people/);
  t.false(report.updated.some((u) => u.username === 'alice'), 'not relinked');
  t.is((await users.find('alice'))!.displayName, 'Alice Directory');
  t.is((await users.find('alice'))!.id, alice.id);
});
