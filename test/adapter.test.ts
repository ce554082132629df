import test from 'ava';
import { hashOidcId } from '../src/store/oidc-payloads.ts';
import { createKnexAdapter } from '../src/oidc/adapter.ts';
import { freshStore } from './helpers/store.ts';
import { oncePerFile } from './helpers/once-per-file.ts';
import { TestClock } from './helpers/idp.ts';

const clock = new TestClock();
const bed = oncePerFile(async () => {
  const fresh = await freshStore();
  return { ...fresh, Adapter: createKnexAdapter(fresh.store.oidc, clock, { find: (id) => (id === 'known' ? { client_id: 'known' } : undefined) }) };
});

test('upsert, find, destroy', async (t) => {
  const a = new bed.Adapter('AccessToken');
  await a.upsert('at1', { grantId: 'g1', accountId: 'u1', kind: 'AccessToken' }, 60);
  t.like(await a.find('at1'), { grantId: 'g1', kind: 'AccessToken' });
  t.is(await new bed.Adapter('RefreshToken').find('at1'), undefined, 'models are separate');
  await a.upsert('at1', { grantId: 'g1', accountId: 'u1', kind: 'AccessToken', extra: { n: 1 } }, 60);
  t.like(await a.find('at1'), { extra: { n: 1 } });
  await a.destroy('at1');
  t.is(await a.find('at1'), undefined);
});

test('expiresIn is honoured and expired rows are purged', async (t) => {
  const a = new bed.Adapter('Interaction');
  await a.upsert('i1', { kind: 'Interaction' }, 10);
  await a.upsert('i2', { kind: 'Interaction' }, 3600);
  t.truthy(await a.find('i1'));
  clock.advance(11_000);
  t.is(await a.find('i1'), undefined, 'expired artefacts are not returned');
  t.truthy(await a.find('i2'));
  const purged = await bed.store.oidc.purgeExpired(clock.now());
  t.true(purged >= 1);
  // Only this test's rows: the other tests (running alongside) store interactions of their own.
  const left = await bed.knex('oidc_payloads').where({ model: 'Interaction' }).whereIn('id', [hashOidcId('i1'), hashOidcId('i2')]).pluck('id');
  t.deepEqual(left, [hashOidcId('i2')]);
});

test('consume is atomic: of concurrent consumers exactly one wins, the loser revokes the grant', async (t) => {
  const codes = new bed.Adapter('AuthorizationCode');
  const tokens = new bed.Adapter('AccessToken');
  await codes.upsert('c1', { grantId: 'g-race', kind: 'AuthorizationCode' }, 60);
  await tokens.upsert('t1', { grantId: 'g-race', kind: 'AccessToken' }, 60);
  const results = await Promise.allSettled([codes.consume('c1'), codes.consume('c1'), codes.consume('c1')]);
  t.is(results.filter((r) => r.status === 'fulfilled').length, 1);
  const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  t.is(failures.length, 2);
  t.is((failures[0]!.reason as { error?: string }).error, 'invalid_grant');
  t.is(await tokens.find('t1'), undefined, 'tokens of the replayed grant are revoked');
});

test('a consumed artefact reports when it was consumed', async (t) => {
  const codes = new bed.Adapter('AuthorizationCode');
  await codes.upsert('c2', { grantId: 'g2', kind: 'AuthorizationCode' }, 60);
  t.is((await codes.find('c2'))?.consumed, undefined);
  await codes.consume('c2');
  t.is(typeof (await codes.find('c2'))?.consumed, 'number');
});

test('findByUid, findByUserCode, revokeByGrantId', async (t) => {
  const sessions = new bed.Adapter('Session');
  await sessions.upsert('s1', { uid: 'uid-1', accountId: 'u1', kind: 'Session' }, 60);
  t.like(await sessions.findByUid('uid-1'), { accountId: 'u1' });
  t.is(await sessions.findByUid('uid-2'), undefined);

  const devices = new bed.Adapter('DeviceCode');
  await devices.upsert('d1', { userCode: 'ABCD-EFGH', grantId: 'g3', kind: 'DeviceCode' }, 60);
  t.like(await devices.findByUserCode('ABCD-EFGH'), { grantId: 'g3' });

  const refresh = new bed.Adapter('RefreshToken');
  await refresh.upsert('r1', { grantId: 'g3', kind: 'RefreshToken' }, 60);
  await refresh.upsert('r2', { grantId: 'other', kind: 'RefreshToken' }, 60);
  await refresh.revokeByGrantId('g3');
  t.is(await refresh.find('r1'), undefined);
  t.is(await devices.find('d1'), undefined, 'every model of the grant goes');
  t.truthy(await refresh.find('r2'));
});

test('revokeAccount removes sessions, grants and everything issued from them', async (t) => {
  await new bed.Adapter('Session').upsert('s-acc', { uid: 'u-acc', accountId: 'acc-1', kind: 'Session' }, 60);
  await new bed.Adapter('Grant').upsert('g-acc', { accountId: 'acc-1', kind: 'Grant' }, 60);
  await new bed.Adapter('RefreshToken').upsert('r-acc', { grantId: 'g-acc', kind: 'RefreshToken' }, 60);
  await new bed.Adapter('Session').upsert('s-other', { uid: 'u-other', accountId: 'acc-2', kind: 'Session' }, 60);
  await bed.store.oidc.revokeAccount('acc-1');
  t.is(await new bed.Adapter('Session').find('s-acc'), undefined);
  t.is(await new bed.Adapter('Grant').find('g-acc'), undefined);
  t.is(await new bed.Adapter('RefreshToken').find('r-acc'), undefined);
  t.truthy(await new bed.Adapter('Session').find('s-other'));
});

test('clients come from the configuration, not the table', async (t) => {
  const clients = new bed.Adapter('Client');
  t.deepEqual(await clients.find('known'), { client_id: 'known' });
  t.is(await clients.find('unknown'), undefined);
  await t.throwsAsync(clients.upsert('x', {}, 0));
});

test('ids are stored hashed: no row holds the id, lookups by id still work, the stored hash opens nothing', async (t) => {
  const tokens = new bed.Adapter('AccessToken');
  await tokens.upsert('secret-at', { jti: 'secret-at', grantId: 'g-hash', accountId: 'u-hash', kind: 'AccessToken' }, 60);
  const row = await bed.knex('oidc_payloads').where({ model: 'AccessToken', id: hashOidcId('secret-at') }).first();
  t.truthy(row, 'the row is keyed by the SHA-256 of the id');
  t.false(String(row.payload).includes('secret-at'), 'the payload does not repeat the id');
  t.is(row.grant_id, hashOidcId('g-hash'));
  t.is(await bed.knex('oidc_payloads').where({ id: 'secret-at' }).first(), undefined);
  t.like(await tokens.find('secret-at'), { jti: 'secret-at', grantId: 'g-hash' });
  t.is(await tokens.find(row.id), undefined, 'the hash read from the table is not an id');
  t.is(await tokens.find(`sha256:${row.id}`), undefined, 'nor is the marked hash');

  // An Interaction's copy of the session cookie value is not kept.
  const interactions = new bed.Adapter('Interaction');
  await interactions.upsert('int-1', { jti: 'int-1', kind: 'Interaction', session: { uid: 'su', cookie: 'session-cookie-value', accountId: 'a' } }, 60);
  const stored = await bed.knex('oidc_payloads').where({ model: 'Interaction', id: hashOidcId('int-1') }).first();
  t.false(String(stored.payload).includes('session-cookie-value'));
  t.like(await interactions.find('int-1'), { session: { uid: 'su', accountId: 'a' } });
});

test('a session found by uid can be saved and destroyed in place', async (t) => {
  const sessions = new bed.Adapter('Session');
  await sessions.upsert('sess-secret', { jti: 'sess-secret', uid: 'uid-save', accountId: 'a1', loginTs: 1, kind: 'Session' }, 60);
  const found = await sessions.findByUid('uid-save');
  t.truthy(found?.jti);
  t.not(found!.jti, 'sess-secret', 'a uid lookup cannot give the id back');
  await sessions.upsert(found!.jti!, { ...found!, loginTs: 2 }, 60);
  t.like(await sessions.find('sess-secret'), { loginTs: 2, jti: 'sess-secret' }, 'saved under the same row');
  t.is(await bed.knex('oidc_payloads').where({ model: 'Session', uid: 'uid-save' }).count({ n: '*' }).first().then((r) => Number(r?.n)), 1);
  await sessions.destroy(found!.jti!);
  t.is(await sessions.find('sess-secret'), undefined);
});
