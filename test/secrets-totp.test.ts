import test from 'ava';
import type { Knex } from 'knex';
import { randomBytes } from 'node:crypto';
import type { Store } from '../src/store/index.ts';
import { KeyStore } from '../src/store/keystore.ts';
import {
  createSecretBox,
  deriveKey,
  loadSecretsKey,
  secretKeys,
  SecretBoxError,
  INITIAL_SECRETS_KEY_ID,
} from '../src/security/secrets.ts';
import {
  newTotpSecret,
  otpauthUri,
  qrSvg,
  verifyTotp,
  totpCodeAt,
  totpStep,
  formatSecretForDisplay,
} from '../src/security/totp.ts';
import type { TestDatabase } from './helpers/db.ts';
import { freshStore } from './helpers/store.ts';
import { TestClock } from './helpers/idp.ts';

let db: TestDatabase;
let knex: Knex;
let store: Store;
const clock = new TestClock();

test.before(async () => {
  ({ db, knex, store } = await freshStore());
});
test.after.always(async () => {
  await knex?.destroy();
  await db?.cleanup();
});

// Secret box

test('seal/open roundtrip, versioned format', (t) => {
  const box = createSecretBox(randomBytes(32));
  for (const plain of ['JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP', '', 'ünïcödé ✓ 🔑', 'x'.repeat(5000)]) {
    const sealed = box.seal(plain);
    t.regex(sealed, /^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/);
    t.false(plain.length > 3 && sealed.includes(plain));
    t.is(box.open(sealed), plain);
  }
});

test('a random IV per seal: the same secret never seals the same way', (t) => {
  const box = createSecretBox(randomBytes(32));
  const sealed = new Set(Array.from({ length: 50 }, () => box.seal('same secret')));
  t.is(sealed.size, 50);
  const ivs = new Set([...sealed].map((s) => s.split('.')[1]));
  t.is(ivs.size, 50);
});

test('tampering, another key, another context or a malformed value: SecretBoxError', (t) => {
  const key = randomBytes(32);
  const box = createSecretBox(key);
  const sealed = box.seal('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ', 'user-1');
  t.is(box.open(sealed, 'user-1'), 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ');

  const [v, iv, body] = sealed.split('.') as [string, string, string];
  const flip = (s: string, at: number) => {
    const b = Buffer.from(s, 'base64url');
    b[at % b.length]! ^= 1;
    return b.toString('base64url');
  };
  const bad = [
    `${v}.${flip(iv, 0)}.${body}`,
    `${v}.${iv}.${flip(body, 0)}`,
    `${v}.${iv}.${flip(body, -1 + Buffer.from(body, 'base64url').length)}`,
    `${v}.${iv}.${body.slice(0, -4)}`,
    `v2.${iv}.${body}`,
    `${v}.${iv}`,
    `${v}.${iv}.${body}.extra`,
    `${v}.${iv}.${body}!`,
    '',
    'garbage',
    `${v}.${Buffer.alloc(8).toString('base64url')}.${body}`,
    `${v}.${iv}.${Buffer.alloc(4).toString('base64url')}`,
  ];
  for (const value of bad) {
    const error = t.throws(() => box.open(value, 'user-1'), { instanceOf: SecretBoxError }, value);
    t.is(error?.code, 'sealed_secret_invalid');
  }
  t.throws(() => createSecretBox(randomBytes(32)).open(sealed, 'user-1'), { instanceOf: SecretBoxError }, 'another key');
  t.throws(() => box.open(sealed, 'user-2'), { instanceOf: SecretBoxError }, 'another context');
  t.throws(() => box.open(sealed), { instanceOf: SecretBoxError }, 'no context');
});

test('keys must be 32 bytes', (t) => {
  t.throws(() => createSecretBox(randomBytes(16)), { instanceOf: TypeError });
  t.throws(() => deriveKey(randomBytes(31), 'x'), { instanceOf: TypeError });
});

test('derived keys: deterministic, 32 bytes, different per label and from the master', (t) => {
  const master = randomBytes(32);
  const a = deriveKey(master, 'one-time-codes');
  t.is(a.length, 32);
  t.deepEqual(deriveKey(master, 'one-time-codes'), a);
  t.notDeepEqual(deriveKey(master, 'secret-box'), a);
  t.notDeepEqual(a, master);
  t.notDeepEqual(deriveKey(randomBytes(32), 'one-time-codes'), a);
  const { secretBox, codePepper } = secretKeys(master);
  t.deepEqual(codePepper, a);
  t.notDeepEqual(secretBox, codePepper);
});

test('secrets key from configuration', async (t) => {
  const configured = randomBytes(32).toString('base64url');
  const keys = new KeyStore(knex);
  const key = await loadSecretsKey(keys, configured, clock);
  t.is(key.toString('base64url'), configured);
  t.throws(() => createSecretBox(key).open(createSecretBox(randomBytes(32)).seal('x')), { instanceOf: SecretBoxError });
  await t.throwsAsync(loadSecretsKey(keys, 'too-short', clock), { instanceOf: TypeError });
});

test('secrets key from the keystore: generated once, the same for every instance and restart', async (t) => {
  // Two instances starting at once on the same database, then a restart.
  const [a, b] = await Promise.all([loadSecretsKey(new KeyStore(knex), undefined, clock), loadSecretsKey(new KeyStore(knex), undefined, clock)]);
  t.is(a.length, 32);
  t.deepEqual(a, b);
  const c = await loadSecretsKey(store.keys, undefined, clock);
  t.deepEqual(c, a);
  const rows = await knex('keystore').where({ kind: 'secrets' });
  t.is(rows.length, 1);
  t.is(rows[0].id, INITIAL_SECRETS_KEY_ID);

  const sealed = createSecretBox(deriveKey(a, 'secret-box')).seal('seed');
  t.is(createSecretBox(deriveKey(c, 'secret-box')).open(sealed), 'seed', 'what one instance seals the other opens');
});

// TOTP

/** RFC 6238 appendix B, SHA-1: the secret "12345678901234567890" in base32. */
const RFC_SECRET = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';

test('RFC 6238 test vectors (SHA-1, 6 digits)', (t) => {
  const vectors: [number, string][] = [
    [59, '287082'],
    [1111111109, '081804'],
    [1111111111, '050471'],
    [1234567890, '005924'],
    [2000000000, '279037'],
  ];
  for (const [seconds, code] of vectors) {
    t.is(totpCodeAt(RFC_SECRET, totpStep(seconds * 1000)), code);
    t.deepEqual(verifyTotp(RFC_SECRET, code, seconds * 1000), { ok: true, step: Math.floor(seconds / 30) });
  }
});

test('new secrets: base32, 160 bits, different every time', (t) => {
  const secrets = new Set(Array.from({ length: 20 }, () => newTotpSecret()));
  t.is(secrets.size, 20);
  for (const s of secrets) t.regex(s, /^[A-Z2-7]{32}$/);
});

test('the code for now verifies, ±1 step verifies, ±2 steps do not; the matched step is returned', (t) => {
  const secret = newTotpSecret();
  const now = Date.UTC(2026, 10, 23, 12, 0, 15);
  const step = totpStep(now);
  t.deepEqual(verifyTotp(secret, totpCodeAt(secret, step), now), { ok: true, step });
  t.deepEqual(verifyTotp(secret, totpCodeAt(secret, step - 1), now), { ok: true, step: step - 1 });
  t.deepEqual(verifyTotp(secret, totpCodeAt(secret, step + 1), now), { ok: true, step: step + 1 });
  for (const far of [step - 2, step + 2]) {
    const code = totpCodeAt(secret, far);
    // Skip the one-in-a-million case where the far code equals a code inside the window.
    if ([step - 1, step, step + 1].some((s) => totpCodeAt(secret, s) === code)) continue;
    t.deepEqual(verifyTotp(secret, code, now), { ok: false });
  }
  t.deepEqual(verifyTotp(secret, totpCodeAt(secret, step), now + 30_000), { ok: true, step }, 'still valid one step later');
  t.deepEqual(verifyTotp(secret, totpCodeAt(secret, step), now + 60_000).ok, false, 'not two steps later');
});

test('replay protection: steps up to afterStep are refused', (t) => {
  const secret = newTotpSecret();
  const now = Date.UTC(2026, 10, 23, 12, 0, 15);
  const step = totpStep(now);
  const code = totpCodeAt(secret, step);
  const first = verifyTotp(secret, code, now);
  t.true(first.ok);
  t.deepEqual(verifyTotp(secret, code, now + 5_000, first.step), { ok: false }, 'the same code again');
  t.deepEqual(verifyTotp(secret, totpCodeAt(secret, step - 1), now, first.step), { ok: false }, 'an older code');
  t.deepEqual(verifyTotp(secret, totpCodeAt(secret, step + 1), now, first.step), { ok: true, step: step + 1 }, 'the next one');
});

test('TOTP input: spaces allowed, garbage is not ok and never throws', (t) => {
  const secret = newTotpSecret();
  const now = Date.UTC(2026, 10, 23, 12, 0, 15);
  const code = totpCodeAt(secret, totpStep(now));
  t.true(verifyTotp(secret, `${code.slice(0, 3)} ${code.slice(3)}`, now).ok);
  for (const bad of ['', 'abcdef', '12345', '1234567', '9'.repeat(50), '١٢٣٤٥٦', `${code}0`]) {
    t.deepEqual(verifyTotp(secret, bad, now), { ok: false }, bad);
  }
});

test('otpauth URI', (t) => {
  const uri = otpauthUri({ secret: RFC_SECRET, account: 'jan.de.vries@example.nl', issuer: 'Acme: Sign in' });
  t.true(uri.startsWith('otpauth://totp/Acme%3A%20Sign%20in:jan.de.vries%40example.nl?'));
  const url = new URL(uri);
  t.is(url.protocol, 'otpauth:');
  t.is(url.searchParams.get('secret'), RFC_SECRET);
  t.is(url.searchParams.get('issuer'), 'Acme: Sign in');
  t.is(url.searchParams.get('algorithm'), 'SHA1');
  t.is(url.searchParams.get('digits'), '6');
  t.is(url.searchParams.get('period'), '30');
  t.false(uri.includes('+'));
  const label = uri.slice('otpauth://totp/'.length, uri.indexOf('?')).split(':').map(decodeURIComponent).join('|');
  t.is(label, 'Acme: Sign in|jan.de.vries@example.nl');
});

test('QR code: a data URL that decodes to an SVG', async (t) => {
  const dataUrl = await qrSvg(otpauthUri({ secret: newTotpSecret(), account: 'a@example.org', issuer: 'Acme' }));
  const prefix = 'data:image/svg+xml;base64,';
  t.true(dataUrl.startsWith(prefix));
  const svg = Buffer.from(dataUrl.slice(prefix.length), 'base64').toString('utf8');
  t.regex(svg, /^<svg[^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  t.regex(svg, /<\/svg>\s*$/);
  t.false(/<script/i.test(svg));
  t.regex(dataUrl.slice(prefix.length), /^[A-Za-z0-9+/]+=*$/);
});

test('secret grouped in fours for display', (t) => {
  t.is(formatSecretForDisplay('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ'), 'GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ');
  t.is(formatSecretForDisplay('ABCDEF'), 'ABCD EF');
});
