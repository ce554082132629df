import test from 'ava';
import Keygrip from 'keygrip';
import { createCookieSigner } from '../src/security/cookie-signer.ts';

const older = 'older-cookie-key-0123456789abcdefghij';
const newer = 'newer-cookie-key-0123456789abcdefghij';
const data = '_interaction=Xc2Vp8g0n3oQm1r7b5Tz4';

test('signatures are keygrip\'s: cookies signed before keep verifying, and the other way round', (t) => {
  const signer = createCookieSigner([newer, older]);
  const grip = new Keygrip([newer, older]);
  t.is(signer.sign(data), grip.sign(data));
  t.is(signer.index(data, grip.sign(data)), 0);
  t.is(grip.index(data, signer.sign(data)), 0);
  t.is(signer.index(data, new Keygrip([older]).sign(data)), 1, 'signed with the older key: still accepted, and Cookies re-signs it');
  t.true(signer.verify(data, new Keygrip([older]).sign(data)));
});

test('anything else does not verify', (t) => {
  const signer = createCookieSigner([newer, older]);
  const good = signer.sign(data);
  t.is(signer.index(`${data}x`, good), -1, 'another value');
  t.is(signer.index(data, `${good.slice(0, -1)}${good.endsWith('A') ? 'B' : 'A'}`), -1, 'one character changed');
  t.is(signer.index(data, good.slice(1)), -1, 'shorter');
  t.is(signer.index(data, ''), -1);
  t.is(signer.index(data, new Keygrip(['some-other-key-0123456789abcdef']).sign(data)), -1, 'a key we do not have');
  t.is(signer.index(data, undefined as unknown as string), -1);
  t.false(signer.verify(data, `${good}=`));
});

test('at least one key', (t) => {
  t.throws(() => createCookieSigner([]), { message: /at least one key/ });
});
