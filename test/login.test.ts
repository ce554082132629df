import test from 'ava';
import argon2 from 'argon2';
import { startIdp, testArgon2, type RunningIdp } from './helpers/idp.ts';
import { discover, login, authorizationRequest, newBrowser, signIn } from './helpers/rp.ts';
import { createPasswordHasher, type PasswordHasher, type Argon2Functions } from '../src/security/password.ts';
import { UserService } from '../src/users/service.ts';

let idp: RunningIdp;
const rp = () => discover({ issuer: idp.issuer, clientId: 'confidential-app', clientSecret: 'confidential-app-secret-0123456789' });

test.before(async () => {
  idp = await startIdp();
  await idp.idp.parts.users.create({ username: 'erin', password: 'erin password 12' });
  await idp.idp.parts.users.create({ username: 'frank', password: 'frank password 12' });
  await idp.idp.parts.users.create({ username: 'Zoë.Ünicode', password: 'zoë wachtwoord 1' });
});
test.after.always(async () => {
  await idp?.close();
});

async function failedSignIn(username: string, password: string): Promise<string> {
  const config = await rp();
  const browser = newBrowser();
  const page = await browser.navigate((await authorizationRequest(config)).url.href);
  const after = await signIn(browser, page, username, password);
  if (after.status !== 200) throw new Error(`expected the sign-in page again, got ${after.status} ${after.url}`);
  return /<p class="alert"[^>]*>([^<]*)<\/p>/.exec(after.html)?.[1] ?? '(no message)';
}

test('username is case-insensitive and unicode-normalised', async (t) => {
  const config = await rp();
  t.truthy((await login(config, 'ERIN', 'erin password 12')).tokens.id_token);
  t.truthy((await login(config, 'zoë.ünicode', 'zoë wachtwoord 1')).tokens.id_token);
});

test('wrong password, unknown user and disabled user all get the same message', async (t) => {
  await idp.idp.parts.users.setStatus('frank', 'disabled');
  const wrong = await failedSignIn('erin', 'not the password');
  const unknown = await failedSignIn('nobody-here', 'whatever password');
  const disabled = await failedSignIn('frank', 'frank password 12');
  t.regex(wrong, /not right/);
  t.is(unknown, wrong);
  t.is(disabled, wrong, 'a disabled account is not revealed');
});

test('unknown users are checked against a dummy hash (same work as a real account)', async (t) => {
  const calls: (string | null | undefined)[] = [];
  const real = createPasswordHasher(() => ({ memoryCost: 7168, timeCost: 1, parallelism: 1 }));
  const spy: PasswordHasher = {
    hash: (p) => real.hash(p),
    needsRehash: (h) => real.needsRehash(h),
    async verify(hash, password) {
      calls.push(hash);
      return real.verify(hash, password);
    },
  };
  const users = new UserService(idp.idp.parts.store, spy, idp.idp.parts.clock);
  const result = await users.signIn('no-such-user', 'some password');
  t.false(result.ok);
  t.deepEqual(calls, [undefined], 'verify ran once, against the dummy');
  const bad = await users.signIn('bad user\u0000name', 'some password');
  t.false(bad.ok);
  t.is(calls.length, 2, 'even an impossible username costs one verify');
});

test('the dummy hash is computed at startup and when the parameters change, never by an unknown-user sign-in', async (t) => {
  // argon2 itself, counting: the memory cost of every hash made, and of every hash verified against.
  const hashed: number[] = [];
  const verifiedAgainst: number[] = [];
  const memoryOf = (hash: string) => Number(/\$m=(\d+),/.exec(hash)?.[1]);
  const counting: Argon2Functions = {
    hash(password, options) {
      hashed.push(options.memoryCost);
      return argon2.hash(password, options);
    },
    verify(hash, password) {
      verifiedAgainst.push(memoryOf(hash));
      return argon2.verify(hash, password);
    },
    needsRehash: (hash, options) => argon2.needsRehash(hash, options),
  };
  const own = await startIdp({ argon2: counting });
  try {
    t.deepEqual(hashed, [testArgon2.memoryCost], 'the dummy exists once the IdP has started');
    t.false((await own.idp.parts.users.signIn('nobody-yet', 'some password')).ok);
    t.deepEqual(hashed, [testArgon2.memoryCost], 'the first unknown-user sign-in made no hash');
    t.deepEqual(verifiedAgainst, [testArgon2.memoryCost]);

    const previous = own.idp.parts.config.current;
    const stronger = { ...testArgon2, memoryCost: testArgon2.memoryCost + 1024 };
    own.idp.parts.config.replace({ ...previous, passwords: { ...previous.passwords, argon2: stronger } });
    t.deepEqual(hashed, [testArgon2.memoryCost, stronger.memoryCost], 'new parameters: their dummy is made when the configuration changes');
    t.false((await own.idp.parts.users.signIn('nobody-still', 'some password')).ok);
    t.deepEqual(hashed, [testArgon2.memoryCost, stronger.memoryCost], 'and not by the next unknown-user sign-in');
    t.deepEqual(verifiedAgainst, [testArgon2.memoryCost, stronger.memoryCost], 'which is verified against the new dummy');

    own.idp.parts.config.replace({ ...own.idp.parts.config.current, logging: { ...previous.logging } });
    t.is(hashed.length, 2, 'a change of other settings makes no new dummy');
  } finally {
    await own.close();
  }
});

test('a hash with outdated parameters is upgraded at sign-in, keeping password_changed_at', async (t) => {
  const weak = await argon2.hash('grace password 1', { type: argon2.argon2id, memoryCost: 7168, timeCost: 3, parallelism: 1 });
  const user = await idp.idp.parts.users.create({ username: 'grace' });
  await idp.idp.parts.store.users.setPasswordHash(user.id, weak, 1_000, true);
  const config = await rp();
  await login(config, 'grace', 'grace password 1');
  const after = await idp.idp.parts.store.users.findById(user.id);
  t.not(after!.passwordHash, weak);
  t.regex(after!.passwordHash!, /^\$argon2id\$v=19\$m=7168,(t=1,p=1|p=1,t=1)\$/);
  t.is(after!.passwordChangedAt, 1_000, 'a rehash is not a password change');
  // The upgraded hash still verifies.
  t.truthy((await login(config, 'grace', 'grace password 1')).tokens.id_token);
});

test('disabling a user ends their sessions and tokens', async (t) => {
  await idp.idp.parts.users.create({ username: 'heidi', password: 'heidi password 1' });
  const config = await rp();
  const { browser } = await login(config, 'heidi', 'heidi password 1');
  await idp.idp.parts.users.setStatus('heidi', 'disabled');
  const page = await browser.navigate((await authorizationRequest(config)).url.href);
  t.is(page.status, 200, 'the sign-in form is shown again instead of SSO');
  t.regex(page.html, /name="password"/);
});
