import test, { type ExecutionContext } from 'ava';
import net from 'node:net';
import dc from 'node:diagnostics_channel';
import type { Knex } from 'knex';
import type { Store } from '../src/store/index.ts';
import { deliverySchema, type DeliveryConfig } from '../src/config/sspr-schema.ts';
import { createLogger } from '../src/logging.ts';
import { systemClock, type Clock } from '../src/clock.ts';
import { AppError } from '../src/errors.ts';
import {
  createMailDelivery,
  createPhoneDelivery,
  mailFailure,
  DeliveryError,
  maskEmail,
  maskPhone,
  type Channel,
  type MailMessage,
  type PhoneMessage,
} from '../src/delivery/index.ts';
import type { TestDatabase } from './helpers/db.ts';
import { freshStore } from './helpers/store.ts';
import { startSmtp } from './helpers/smtp.ts';
import { startSmsReceiver, type SmsReceiver } from './helpers/sms.ts';

let db: TestDatabase;
let knex: Knex;
let store: Store;

test.before(async () => {
  ({ db, knex, store } = await freshStore());
});
test.after.always(async () => {
  await knex?.destroy();
  await db?.cleanup();
});

const SECRET = 'webhook-secret-0123456789abcdef';
const fixedClock: Clock = { now: () => 1_750_000_000_000 };

/** A logger whose JSON lines are kept for inspection. */
function capture() {
  const lines: string[] = [];
  const log = createLogger('debug', { write: (line: string) => void lines.push(line) });
  return { log, lines, entries: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

const mailConfig = (input: Record<string, unknown>): DeliveryConfig['mail'] => deliverySchema.parse({ mail: input }).mail;
const phoneConfig = (input: Record<string, unknown>): DeliveryConfig['phone'] => deliverySchema.parse({ phone: input }).phone;
const webhook = (url: string, extra: Record<string, unknown> = {}) =>
  phoneConfig({ transport: 'webhook', webhook: { url, secret: SECRET, timeoutMs: 10_000, retries: 2, ...extra } });

type MailDeps = Parameters<typeof createMailDelivery>[0];
type PhoneDeps = Parameters<typeof createPhoneDelivery>[0];

/** A mail delivery reading `config` on every send, logging into a capture; closed after the test unless `closeAfter` is false. */
function mailer(t: ExecutionContext, config: MailDeps['config'], more: Partial<Omit<MailDeps, 'config'>> = {}, closeAfter = true) {
  const { log, lines, entries } = capture();
  const delivery = createMailDelivery({ config, outbox: store.outbox, log, clock: systemClock, ...more });
  if (closeAfter) t.teardown(() => delivery.close());
  return { delivery, lines, entries };
}

/** The phone delivery likewise. */
function phoner(t: ExecutionContext, config: PhoneDeps['config'], more: Partial<Omit<PhoneDeps, 'config'>> = {}, closeAfter = true) {
  const { log, lines, entries } = capture();
  const delivery = createPhoneDelivery({ config, outbox: store.outbox, log, clock: systemClock, ...more });
  if (closeAfter) t.teardown(() => delivery.close());
  return { delivery, lines, entries };
}

/** SMTP to the server on this loopback port. */
const smtpAt = (port: number, smtp: Record<string, unknown> = {}) => mailConfig({ transport: 'smtp', smtp: { host: '127.0.0.1', port, ...smtp } });

/** A loopback port that accepts TCP connections and never says a word (an SMTP server that never greets); closed after the test. */
async function silentPort(t: ExecutionContext): Promise<number> {
  const sockets = new Set<net.Socket>();
  const silent = net.createServer((socket) => void sockets.add(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    silent.close();
  });
  return (silent.address() as net.AddressInfo).port;
}

/** A webhook receiver checking SECRET, closed after the test. */
async function receiverFor(t: ExecutionContext): Promise<SmsReceiver> {
  const receiver = await startSmsReceiver(SECRET);
  t.teardown(() => receiver.close());
  return receiver;
}

let unique = 0;
function mail(extra: Partial<MailMessage> = {}): MailMessage {
  unique += 1;
  const code = String(40_000_000 + unique * 7919);
  return {
    to: `jane.doe+${unique}@example.org`,
    subject: `Confirm your address SUBJ${unique}`,
    text: `Your code is ${code}.`,
    html: `<p>Your code is <b>${code}</b>.</p>`,
    userId: `user-${unique}`,
    kind: 'register.email.code',
    ...extra,
  };
}
function sms(extra: Partial<PhoneMessage> = {}): PhoneMessage {
  unique += 1;
  return {
    to: `+316${String(10_000_000 + unique).slice(-8)}`,
    channel: 'sms',
    text: `Your code is ${String(50_000_000 + unique * 7919)}.`,
    locale: 'nl',
    userId: `user-${unique}`,
    kind: 'reset.sms.code',
    ...extra,
  };
}

/** Nothing listens here (the discard port; the project's other tests use it the same way). */
const CLOSED_PORT = 9;

function assertNoContent(t: ExecutionContext, lines: string[], ...secrets: string[]) {
  t.true(lines.length > 0, 'something was logged');
  for (const line of lines) for (const secret of secrets) t.false(line.includes(secret), `log line leaks "${secret}": ${line}`);
}

// ---- mail ---------------------------------------------------------------------------------

test('mail over SMTP arrives with the right recipient, sender, subject and text', async (t) => {
  const smtp = await startSmtp();
  t.teardown(() => smtp.close());
  const { delivery, lines, entries } = mailer(t, () => mailConfig({ transport: 'smtp', from: 'Example IdP <idp@example.org>', smtp: { host: '127.0.0.1', port: smtp.port } }));
  const message = mail();
  await delivery.send(message);
  const received = await smtp.waitFor((m) => m.to.includes(message.to));
  t.deepEqual(received.to, [message.to]);
  t.is(received.from, '"Example IdP" <idp@example.org>');
  t.is(received.mailFrom, 'idp@example.org');
  t.is(received.subject, message.subject);
  t.is(received.text.trim(), message.text);
  t.true(received.html?.includes('<b>'));
  t.is(received.headers['auto-submitted'], 'auto-generated');
  t.is(await store.outbox.latest({ recipient: message.to }).then((r) => r.length), 0, 'not stored in the outbox');
  const sent = entries().find((e) => e.event === 'mail.sent');
  t.like(sent, { kind: 'register.email.code', to: maskEmail(message.to), userId: message.userId });
  t.is(typeof sent?.messageId, 'string');
  assertNoContent(t, lines, message.subject, message.text, message.to);
});

test('SMTP with a login: the right password sends, a wrong one is a DeliveryError', async (t) => {
  const smtp = await startSmtp({ auth: { user: 'mailer', pass: 'right-pass' } });
  t.teardown(() => smtp.close());
  const settings = { host: '127.0.0.1', port: smtp.port, user: 'mailer', pass: 'right-pass' };
  let current = mailConfig({ transport: 'smtp', smtp: settings });
  const { delivery, lines, entries } = mailer(t, () => current);

  const good = mail();
  await delivery.send(good);
  const received = await smtp.waitFor((m) => m.to.includes(good.to));
  t.is(received.user, 'mailer', 'the client authenticated');

  current = mailConfig({ transport: 'smtp', smtp: { ...settings, pass: 'wrong-pass' } });
  const bad = mail();
  const error = await t.throwsAsync(delivery.send(bad), { instanceOf: DeliveryError });
  t.is(error?.code, 'delivery_failed');
  t.is(error?.status, 502);
  t.is(error?.messageId, 'error.delivery_failed');
  t.is(smtp.messages.length, 1, 'nothing sent with the wrong password');
  t.like(
    entries().find((e) => e.event === 'mail.failed'),
    { level: 40, errorCode: 'EAUTH', reason: 'auth', to: maskEmail(bad.to) },
  );
  assertNoContent(t, lines, bad.subject, bad.text, 'wrong-pass', 'right-pass');
});

test('SMTP without a login is refused by a server that requires one', async (t) => {
  const smtp = await startSmtp({ auth: { user: 'mailer', pass: 'right-pass' } });
  t.teardown(() => smtp.close());
  const { delivery } = mailer(t, () => smtpAt(smtp.port));
  await t.throwsAsync(delivery.send(mail()), { instanceOf: DeliveryError });
  t.is(smtp.messages.length, 0);
});

test('SMTP server down: DeliveryError', async (t) => {
  const port = CLOSED_PORT;
  const { delivery, lines, entries } = mailer(t, () => smtpAt(port, { timeoutSeconds: 1 }));
  const message = mail();
  const error = await t.throwsAsync(delivery.send(message), { instanceOf: DeliveryError });
  t.true(error instanceof AppError);
  t.is(error?.channel, 'email');
  t.is(error?.reason, 'unreachable', 'refused is unreachable, whatever the load');
  const failed = entries().find((e) => e.event === 'mail.failed');
  t.like(failed, { level: 40, kind: message.kind, reason: error?.reason, to: maskEmail(message.to) });
  t.is((await store.outbox.latest({ recipient: message.to })).length, 0, 'not put in the outbox instead');
  assertNoContent(t, lines, message.subject, message.text, message.to);
});

/**
 * Blocks the event loop once, right after the next client socket has started connecting, for
 * longer than the SMTP deadline: the refusal and every timer of the send then come due together,
 * as on a machine stalled under load.
 */
function stallAfterNextConnect(ms: number): void {
  const stall = () => {
    dc.unsubscribe('net.client.socket', stall);
    // Two ticks: the connect itself is issued on the first one.
    process.nextTick(() => process.nextTick(() => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)));
  };
  dc.subscribe('net.client.socket', stall);
}

test.serial('SMTP server down on a stalled event loop: still unreachable, not the timer that fired first', async (t) => {
  const { delivery, entries } = mailer(t, () => smtpAt(CLOSED_PORT, { timeoutSeconds: 1 }));
  const message = mail();
  // Past the connect timeout (1 s) and the overall deadline (3 s).
  stallAfterNextConnect(3500);
  const error = await t.throwsAsync(delivery.send(message), { instanceOf: DeliveryError });
  t.is(error?.reason, 'unreachable');
  t.like(entries().find((e) => e.event === 'mail.failed'), { reason: 'unreachable', errorCode: 'ECONNREFUSED' });
  t.is((await store.outbox.latest({ recipient: message.to })).length, 0);
});

test.serial('SMTP server that never answers, on a stalled event loop: a timeout', async (t) => {
  const port = await silentPort(t);
  const { delivery, entries } = mailer(t, () => smtpAt(port, { timeoutSeconds: 1 }));
  stallAfterNextConnect(3500);
  const error = await t.throwsAsync(delivery.send(mail()), { instanceOf: DeliveryError });
  t.is(error?.reason, 'timeout');
  t.like(entries().find((e) => e.event === 'mail.failed'), { reason: 'timeout' });
});

test('a mail failure is classified by what happened, not by one socket code', (t) => {
  const none = { closed: false, deadline: false };
  const code = (c: string, extra: Record<string, unknown> = {}) => Object.assign(new Error(c), { code: c, ...extra });
  // The overall deadline firing on a stalled event loop surfaces as nodemailer's EABORT.
  t.is(mailFailure(code('EABORT'), { closed: false, deadline: true }), 'timeout');
  t.is(mailFailure(code('EABORT'), { closed: true, deadline: false }), 'closed');
  t.is(mailFailure(code('ETIMEDOUT'), none), 'timeout');
  t.is(mailFailure(code('ECONNECTION'), none), 'unreachable');
  t.is(mailFailure(code('ESOCKET'), none), 'unreachable');
  t.is(mailFailure(code('EAUTH', { responseCode: 535 }), none), 'auth');
  t.is(mailFailure(code('EENVELOPE', { responseCode: 550 }), none), 'rejected');
  t.is(mailFailure(code('EABORT'), none), 'error');
});

test('SMTP server that never answers: DeliveryError after the configured timeout', async (t) => {
  // Accepts the TCP connection but never sends a greeting.
  const port = await silentPort(t);
  const { delivery, entries } = mailer(t, () => smtpAt(port, { timeoutSeconds: 1 }));
  const started = Date.now();
  await t.throwsAsync(delivery.send(mail()), { instanceOf: DeliveryError });
  const elapsed = Date.now() - started;
  t.true(elapsed >= 900, `waited for the timeout (${elapsed} ms)`);
  // The greeting timeout normally; the overall deadline when a loaded machine stalls the loop.
  t.like(entries().find((e) => e.event === 'mail.failed'), { reason: 'timeout' });
});

test('mail into the outbox is stored and the log holds neither subject nor body', async (t) => {
  const { delivery, lines, entries } = mailer(t, () => mailConfig({ transport: 'outbox' }), { clock: fixedClock });
  const message = mail();
  await delivery.send(message);
  const [stored, ...rest] = await store.outbox.latest({ recipient: message.to });
  t.is(rest.length, 0);
  t.like(stored, {
    channel: 'email',
    recipient: message.to,
    subject: message.subject,
    body: message.text,
    userId: message.userId,
    createdAt: fixedClock.now(),
  });
  t.is((await store.outbox.latest({ userId: message.userId! }))[0]?.id, stored?.id);
  const logged = entries().filter((e) => e.event === 'mail.outbox');
  t.is(logged.length, 1);
  t.like(logged[0], { level: 30, kind: 'register.email.code', to: maskEmail(message.to), userId: message.userId });
  const code = /\d{8}/.exec(message.text)![0];
  assertNoContent(t, lines, message.subject, message.text, code, message.to);
});

test('a recipient that is not one plain address is refused before anything is sent', async (t) => {
  const smtp = await startSmtp();
  t.teardown(() => smtp.close());
  let current = smtpAt(smtp.port);
  const { delivery } = mailer(t, () => current);
  for (const to of ['jane@example.org, eve@example.net', 'Eve <eve@example.net>', 'jane@example.org\r\nBcc: eve@example.net', 'no-at-sign', '']) {
    await t.throwsAsync(delivery.send(mail({ to })), { instanceOf: DeliveryError }, JSON.stringify(to));
  }
  current = mailConfig({ transport: 'outbox' });
  await t.throwsAsync(delivery.send(mail({ to: 'a@b.example, eve@example.net' })), { instanceOf: DeliveryError });
  t.is(smtp.messages.length, 0);
  t.is((await store.outbox.latest({ recipient: 'a@b.example, eve@example.net' })).length, 0);
});

test('a live config switch changes the mail transport and the SMTP server', async (t) => {
  const first = await startSmtp();
  const second = await startSmtp();
  t.teardown(() => Promise.all([first.close(), second.close()]));
  let current = mailConfig({ transport: 'outbox' });
  const { delivery } = mailer(t, () => current);
  const to = `switch-${Date.now()}@example.org`;

  await delivery.send(mail({ to, subject: 'one' }));
  t.deepEqual((await store.outbox.latest({ recipient: to })).map((m) => m.subject), ['one']);

  current = smtpAt(first.port);
  await delivery.send(mail({ to, subject: 'two' }));
  t.is((await first.waitFor((m) => m.subject === 'two')).to[0], to);

  current = smtpAt(second.port);
  await delivery.send(mail({ to, subject: 'three' }));
  t.is((await second.waitFor((m) => m.subject === 'three')).to[0], to);

  current = mailConfig({ transport: 'outbox' });
  await delivery.send(mail({ to, subject: 'four' }));
  t.deepEqual((await store.outbox.latest({ recipient: to })).map((m) => m.subject), ['four', 'one']);
  t.deepEqual(first.messages.map((m) => m.subject), ['two']);
  t.deepEqual(second.messages.map((m) => m.subject), ['three']);
});

test('a closed mail delivery refuses to send', async (t) => {
  const { delivery } = mailer(t, () => mailConfig({ transport: 'outbox' }), {}, false);
  await delivery.close();
  const message = mail();
  await t.throwsAsync(delivery.send(message), { instanceOf: DeliveryError });
  t.is((await store.outbox.latest({ recipient: message.to })).length, 0);
});

// ---- phone --------------------------------------------------------------------------------

test('phone webhook delivers a validly signed message', async (t) => {
  const receiver = await receiverFor(t);
  const { delivery, lines, entries } = phoner(t, () => webhook(receiver.url));
  const message = sms({ channel: 'voice', locale: 'en' });
  const sentFrom = Math.floor(Date.now() / 1000);
  await delivery.send(message);
  const sentUntil = Math.floor(Date.now() / 1000);
  t.deepEqual(receiver.messages, [{ to: message.to, channel: 'voice', text: message.text, locale: 'en' }]);
  t.is(receiver.requests.length, 1);
  const [request] = receiver.requests;
  t.true(request?.signatureValid);
  t.regex(request?.idempotencyKey ?? '', /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  t.true(Number(request?.timestamp) >= sentFrom && Number(request?.timestamp) <= sentUntil, 'signed with the time of sending');
  t.deepEqual(JSON.parse(request?.body ?? ''), { to: message.to, channel: 'voice', text: message.text, locale: 'en' });
  t.like(entries().find((e) => e.event === 'phone.sent'), { level: 30, channel: 'voice', to: maskPhone(message.to), attempts: 1 });
  t.is((await store.outbox.latest({ recipient: message.to })).length, 0, 'not stored in the outbox');
  assertNoContent(t, lines, message.text, message.to, SECRET);
});

test('phone webhook retries after 500 and 429 with the same idempotency key, then succeeds', async (t) => {
  const receiver = await receiverFor(t);
  receiver.failNext(2, 500);
  const { delivery, lines, entries } = phoner(t, () => webhook(receiver.url, { retries: 3 }));
  const message = sms();
  await delivery.send(message);
  t.deepEqual(receiver.requests.map((r) => r.status), [500, 500, 200]);
  t.is(new Set(receiver.requests.map((r) => r.idempotencyKey)).size, 1, 'one idempotency key for all attempts');
  t.is(receiver.messages.length, 1);
  t.is(entries().filter((e) => e.event === 'phone.retry').length, 2);
  t.like(entries().find((e) => e.event === 'phone.sent'), { attempts: 3 });

  receiver.failNext(1, 429);
  await delivery.send(sms());
  t.deepEqual(receiver.requests.slice(3).map((r) => r.status), [429, 200]);
  t.is(receiver.messages.length, 2);
  assertNoContent(t, lines, message.text);
});

test('phone webhook gives up after the configured retries: DeliveryError', async (t) => {
  const receiver = await receiverFor(t);
  receiver.failNext(100, 503);
  const { delivery, lines, entries } = phoner(t, () => webhook(receiver.url, { retries: 2 }));
  const message = sms();
  const started = Date.now();
  const error = await t.throwsAsync(delivery.send(message), { instanceOf: DeliveryError });
  const elapsed = Date.now() - started;
  t.is(error?.channel, 'sms');
  t.is(receiver.requests.length, 3, 'one attempt plus two retries');
  t.true(elapsed >= 600, `backed off between attempts (${elapsed} ms)`);
  t.is(receiver.messages.length, 0);
  t.like(entries().find((e) => e.event === 'phone.failed'), { level: 40, attempts: 3, status: 503 });
  assertNoContent(t, lines, message.text);
});

test('phone webhook times out on a slow receiver: DeliveryError', async (t) => {
  const receiver = await receiverFor(t);
  let current = webhook(receiver.url);
  const { delivery, entries } = phoner(t, () => current);
  await delivery.send(sms()); // warms up the connection, so the timed attempts below reach the receiver
  current = webhook(receiver.url, { timeoutMs: 400, retries: 1 });
  receiver.delayNext(5000, 10);
  const before = entries().length;
  const started = Date.now();
  await t.throwsAsync(delivery.send(sms()), { instanceOf: DeliveryError });
  const elapsed = Date.now() - started;
  t.true(elapsed >= 800, `two attempts of 400 ms and one backoff (${elapsed} ms)`);
  const logged = entries().slice(before);
  t.like(logged.find((e) => e.event === 'phone.failed'), { error: 'timeout', reason: 'timeout', attempts: 2 });
  t.is(logged.filter((e) => e.event === 'phone.retry').length, 1, 'a timeout is retried');
  t.is(receiver.messages.length, 1, 'only the warm-up message was accepted');
});

test('phone webhook does not retry a 400', async (t) => {
  const receiver = await receiverFor(t);
  receiver.failNext(1, 400);
  const { delivery, entries } = phoner(t, () => webhook(receiver.url, { retries: 3 }));
  const error = await t.throwsAsync(delivery.send(sms()), { instanceOf: DeliveryError });
  t.is(error?.reason, 'rejected');
  // send() settles only after its last attempt, so once it has thrown no retry can still come.
  t.like(entries().find((e) => e.event === 'phone.failed'), { attempts: 1, status: 400 });
  t.is(entries().filter((e) => e.event === 'phone.retry').length, 0);
  t.is(receiver.requests.length, 1, 'exactly one request');
});

test('phone webhook with the wrong secret is refused by the receiver (401): DeliveryError without retries', async (t) => {
  const receiver = await receiverFor(t);
  const { delivery } = phoner(t, () => webhook(receiver.url, { secret: 'another-secret-0123456789abcdef', retries: 3 }));
  await t.throwsAsync(delivery.send(sms()), { instanceOf: DeliveryError });
  t.deepEqual(receiver.requests.map((r) => [r.status, r.signatureValid]), [[401, false]]);
  t.is(receiver.messages.length, 0);
});

test('the signed timestamp comes from the clock: a stale one is refused as a replay', async (t) => {
  const receiver = await receiverFor(t);
  const stale: Clock = { now: () => Date.now() - 3_600_000 };
  const { delivery } = phoner(t, () => webhook(receiver.url), { clock: stale });
  await t.throwsAsync(delivery.send(sms()), { instanceOf: DeliveryError });
  t.is(receiver.requests[0]?.status, 401);
});

test('phone webhook whose gateway drops connections: DeliveryError after retries', async (t) => {
  const dropped: number[] = [];
  const rude = net.createServer((socket) => {
    dropped.push(Date.now());
    socket.destroy();
  });
  await new Promise<void>((resolve) => rude.listen(0, '127.0.0.1', resolve));
  t.teardown(() => void rude.close());
  const { port } = rude.address() as net.AddressInfo;
  const { delivery, entries } = phoner(t, () => webhook(`http://127.0.0.1:${port}/send`, { retries: 1 }));
  const error = await t.throwsAsync(delivery.send(sms()), { instanceOf: DeliveryError });
  t.is(dropped.length, 2, 'a network error is retried');
  t.is(error?.reason, 'unreachable');
  const failed = entries().find((e) => e.event === 'phone.failed');
  t.like(failed, { attempts: 2, status: undefined, reason: 'unreachable' });
});

test('closing the phone delivery cancels a send that is backing off', async (t) => {
  const receiver = await receiverFor(t);
  receiver.failNext(100, 500);
  const { delivery, entries } = phoner(t, () => webhook(receiver.url, { retries: 5 }), {}, false);
  const sending = delivery.send(sms());
  while (receiver.requests.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
  await delivery.close();
  await t.throwsAsync(sending, { instanceOf: DeliveryError });
  t.like(entries().find((e) => e.event === 'phone.failed'), { attempts: 1 }, 'no further attempts');
  t.is(receiver.requests.length, 1);
  await t.throwsAsync(delivery.send(sms()), { instanceOf: DeliveryError }, 'closed for good');
});

test('phone outbox stores text and voice messages and logs no text', async (t) => {
  let current = phoneConfig({ transport: 'outbox' });
  const receiver = await receiverFor(t);
  let clock: Clock = fixedClock;
  const { delivery, lines, entries } = phoner(t, () => current, { clock: { now: () => clock.now() } });
  const text = sms();
  const voice = sms({ to: text.to, channel: 'voice' });
  await delivery.send(text);
  await delivery.send(voice);
  const stored = await store.outbox.latest({ recipient: text.to });
  t.like(stored, [
    { channel: 'voice', recipient: text.to, subject: null, body: voice.text, userId: voice.userId, createdAt: fixedClock.now() },
    { channel: 'sms', recipient: text.to, subject: null, body: text.text, userId: text.userId },
  ]);
  t.deepEqual(
    entries()
      .filter((e) => e.event === 'phone.outbox')
      .map((e) => [e.channel, e.to]),
    [
      ['sms', maskPhone(text.to)],
      ['voice', maskPhone(text.to)],
    ],
  );
  assertNoContent(t, lines, text.text, voice.text, text.to);
  t.is(receiver.requests.length, 0);

  // live switch to the webhook
  current = webhook(receiver.url);
  clock = systemClock;
  const third = sms({ to: text.to });
  await delivery.send(third);
  t.is(receiver.messages[0]?.text, third.text);
  t.is((await store.outbox.latest({ recipient: text.to })).length, 2, 'no longer stored');
});

test('a number that is not E.164 is refused', async (t) => {
  const { delivery } = phoner(t, () => phoneConfig({ transport: 'outbox' }));
  for (const to of ['0612345678', '+31 6 12345678', '+0612345678', '+316123456789012345', '']) {
    await t.throwsAsync(delivery.send(sms({ to })), { instanceOf: DeliveryError }, JSON.stringify(to));
  }
});

// ---- a host's channels ---------------------------------------------------------------------

/** A host's sender that keeps what it is given (and can be told to fail). */
function hostChannel<M>() {
  const received: M[] = [];
  let failure: Error | undefined;
  let closed = false;
  const channel: Channel<M> = {
    async send(message) {
      if (failure) throw failure;
      received.push(message);
    },
    async close() {
      closed = true;
    },
  };
  return { channel, received, failWith: (e: Error) => void (failure = e), closed: () => closed };
}

test("a host's mail channel gets the message instead of the configured transport, recipient checked first", async (t) => {
  const smtp = await startSmtp();
  t.teardown(() => smtp.close());
  const host = hostChannel<MailMessage>();
  const { delivery, lines, entries } = mailer(t, () => smtpAt(smtp.port), { channel: host.channel }, false);
  const message = mail();
  await delivery.send(message);
  t.deepEqual(host.received, [message]);
  await t.throwsAsync(delivery.send(mail({ to: 'Eve <eve@example.net>' })), { instanceOf: DeliveryError });
  t.is(host.received.length, 1, 'an invalid recipient never reaches the host');

  host.failWith(new Error(`could not send to ${message.to}`));
  const error = await t.throwsAsync(delivery.send(mail()), { instanceOf: DeliveryError });
  t.like(error, { channel: 'email', reason: 'error' });
  t.like(entries().find((e) => e.event === 'mail.failed'), { level: 40, reason: 'error', error: 'Error' });
  assertNoContent(t, lines, message.to, message.text);

  await delivery.close();
  t.false(host.closed(), "the host's channel is the host's to close");
  await t.throwsAsync(delivery.send(mail()), { instanceOf: DeliveryError }, 'closed for good');
  t.is(smtp.messages.length, 0, 'nothing went to the configured server');
  t.is((await store.outbox.latest({ recipient: message.to })).length, 0);
});

test("a host's sms channel takes text messages; voice calls keep the configured transport", async (t) => {
  const host = hostChannel<PhoneMessage>();
  const { delivery } = phoner(t, () => phoneConfig({ transport: 'outbox' }), { clock: fixedClock, channels: { sms: host.channel } });
  const text = sms();
  const call = sms({ to: text.to, channel: 'voice' });
  await delivery.send(text);
  await delivery.send(call);
  t.deepEqual(host.received, [text]);
  t.like(await store.outbox.latest({ recipient: text.to }), [{ channel: 'voice', body: call.text }]);
  t.is((await store.outbox.latest({ recipient: text.to })).length, 1);
  await t.throwsAsync(delivery.send(sms({ to: '0612345678' })), { instanceOf: DeliveryError });
  t.is(host.received.length, 1, 'a number that is not E.164 never reaches the host');
});

// ---- masking ------------------------------------------------------------------------------

// Each row: what goes in, what the log shows (and why, where it is not plain).
const maskedEmails: [address: string, masked: string][] = [
  ['jane.doe@example.org', 'j•••@example.org'],
  ['j@example.org', 'j•••@example.org'],
  ['  Jane@Example.ORG ', 'J•••@example.org'],
  ['émile@exemple.fr', 'é•••@exemple.fr'],
  ['odd"@"local@example.org', 'o•••@example.org'],
  ['not-an-address', '•••'],
  ['@example.org', '•••'],
  ['jane@', '•••'],
];
const maskedPhones: [number: string, masked: string, why?: string][] = [
  ['+31612345678', '+31 6 ••••••78'],
  ['+12133734253', '+1 2•• ••• ••53'],
  ['+442071838750', '+44 2• •••• ••50'],
  ['+4915112345678', '+49 1••• •••••78'],
  ['+31 6 1234 5678', '+31 6 ••••••78'],
  ['+3161234', '+31 •••••', 'short numbers keep only the country code'],
  ['+999123456789', '+••••••••••89', 'unknown country: only the last two digits'],
  ['12', '•••'],
];

test('maskEmail keeps the first character and the domain', (t) => {
  for (const [address, masked] of maskedEmails) t.is(maskEmail(address), masked, address);
});

test('maskPhone keeps the country code, the first national digit and the last two', (t) => {
  for (const [number, masked, why] of maskedPhones) t.is(maskPhone(number), masked, why ?? number);
  for (const n of ['+31612345678', '+12133734253', '+4915112345678']) {
    const masked = maskPhone(n);
    t.is(masked.replace(/[^0-9•]/g, '').length, n.length - 1, 'every digit is either shown or a dot');
  }
});

test('DeliveryError is an AppError with a stable code, status and message id', (t) => {
  const error = new DeliveryError('voice', 'detail');
  t.true(error instanceof AppError);
  t.like(error, { name: 'DeliveryError', code: 'delivery_failed', status: 502, messageId: 'error.delivery_failed', channel: 'voice', message: 'detail' });
});
