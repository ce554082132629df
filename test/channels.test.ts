import test from 'ava';
import { startIdp, type RunningIdp } from './helpers/idp.ts';
import { createInbox } from './helpers/inbox.ts';
import { Browser } from './helpers/browser.ts';
import { registerEmail, registerPhone, codeIn } from './helpers/register.ts';
import { discover, authorizationRequest, newBrowser, signIn, login } from './helpers/rp.ts';
import type { Channel, MailMessage, PhoneMessage } from '../src/delivery/index.ts';
import { ssprWith } from './helpers/sspr-settings.ts';

// A host passes its own mail and phone senders to createIdp({ channels }): a real registration and
// a real reset over HTTP deliver their codes there, and nothing goes to the configured transports.

const mail = createInbox<MailMessage>('mail');
const texts = createInbox<PhoneMessage>('text message');
const mailChannel: Channel<MailMessage> = { send: async (m) => mail.add(m) };
const phoneChannel: Channel<PhoneMessage> = { send: async (m) => texts.add(m) };
let idp: RunningIdp;

test.before(async () => {
  idp = await startIdp({
    channels: { mail: mailChannel, sms: phoneChannel, voice: phoneChannel },
    config: {
      sspr: ssprWith(['email', 'mobilePhone'], { methodsRequired: 2 }),
      // The configured transports are the outbox: whatever reached them would be stored there.
      delivery: { mail: { transport: 'outbox' }, phone: { transport: 'outbox' } },
    },
  });
});
test.after.always(async () => {
  await idp?.close();
});

test.serial("registration and reset over HTTP deliver through the host's channels", async (t) => {
  const parts = idp.idp.parts;
  await parts.users.create({ username: 'hana', password: 'hana password 1', email: 'hana@corp.example' });
  const config = await discover({ issuer: idp.issuer, clientId: 'confidential-app', clientSecret: 'confidential-app-secret-0123456789' });
  const browser = newBrowser();
  const form = await browser.navigate((await authorizationRequest(config)).url.href);
  const interrupted = await signIn(browser, form, 'hana', 'hana password 1');
  t.regex(interrupted.html, /Don(&#39;|')t lose access to your account/);

  let overview = await registerEmail(browser, interrupted, mail, 'hana.private@example.net');
  overview = await registerPhone(browser, overview, texts, 'NL', '0612345678', '+31612345678');
  t.regex(overview.html, /h•+@example\.net/);
  t.like(texts.messages[0], { to: '+31612345678', channel: 'sms', kind: 'register.mobile_phone.sms' });
  const finished = await browser.submit(overview, '/finish');
  t.is(finished.status, 0, 'registered: the sign-in reaches the client');

  // "Can't access your account?": the code mailed to the registered address, through the host.
  const reset = new Browser();
  const start = await reset.navigate(`${idp.issuer}/reset`);
  const methods = await reset.submit(start, '/reset', { username: 'hana' });
  const before = mail.messages.length;
  const codePage = await reset.submit(methods, '/reset/flow/method', { method: 'email' });
  const code = await mail.waitFor((m) => mail.messages.indexOf(m) >= before && m.to === 'hana.private@example.net');
  const step2 = await reset.submit(codePage, '/reset/flow/answer', { code: codeIn(code.text) });
  t.regex(step2.html, /Step 2 of 2/);
  // ...and the text message to the registered number.
  const numberPage = await reset.submit(step2, '/reset/flow/method', { method: 'mobilePhone' });
  const sentBefore = texts.messages.length;
  const textPage = await reset.submit(numberPage, '/reset/flow/answer', { number: '06 1234 5678', channel: 'sms' });
  const text = await texts.waitFor((m) => texts.messages.indexOf(m) >= sentBefore && m.to === '+31612345678');
  t.like(text, { channel: 'sms', kind: 'reset.mobile_phone.sms' });
  const passwordPage = await reset.submit(textPage, '/reset/flow/answer', { code: codeIn(text.text) });
  const done = await reset.submit(passwordPage, '/reset/flow/password', { password: 'lantern orbit meadow', confirm: 'lantern orbit meadow' });
  t.regex(done.html, /Your password has been reset/);
  t.truthy((await login(config, 'hana', 'lantern orbit meadow')).tokens.id_token);

  // The directory address heard of the new methods and of the reset, through the host too.
  await mail.waitFor((m) => m.to === 'hana@corp.example' && /password was reset/.test(m.subject));
  t.true(mail.messages.every((m) => !/[\r\n]/.test(m.to)));
  t.is((await parts.store.outbox.latest({})).length, 0, 'nothing reached the configured outbox');
});
