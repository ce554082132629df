/** Walks the registration pages as a user would, reading codes from what really arrived. */
import type { Browser, Page } from './browser.ts';
import type { Inbox } from './inbox.ts';
import { totpCodeAt, totpStep } from '../../src/security/totp.ts';
import { passkeyOptions, type SoftAuthenticator } from './webauthn.ts';
import type { PhoneChannel } from '../../src/delivery/channel.ts';

export function codeIn(text: string): string {
  const match = /\b(\d{6,10})\b/.exec(text.replace(/(\d) (?=\d)/g, '$1'));
  if (!match) throw new Error(`no code in: ${text}`);
  return match[1]!;
}

/** `smtp`: where the mail arrives (the test SMTP server, or a host's mail channel). */
export async function registerEmail(browser: Browser, overview: Page, smtp: Inbox<{ to: string | string[]; text: string }>, address: string): Promise<Page> {
  const form = await browser.follow(overview, '/methods/email');
  const sentAt = smtp.messages.length;
  const codePage = await browser.submit(form, '/methods/email/send', { address });
  if (codePage.status !== 200 || !codePage.html.includes('/methods/email/verify')) throw new Error(`email code page not shown: ${codePage.status} ${codePage.html.slice(0, 1500)}`);
  const mail = await smtp.waitFor((m, i = smtp.messages.indexOf(m)) => i >= sentAt && m.to.includes(address.toLowerCase()));
  return browser.submit(codePage, '/methods/email/verify', { code: codeIn(mail.text) });
}

export async function registerPhone(browser: Browser, overview: Page, sms: Inbox<{ to: string; text: string }>, country: string, number: string, e164: string, channel: PhoneChannel = 'sms'): Promise<Page> {
  const form = await browser.follow(overview, '/methods/mobilePhone');
  const before = sms.messages.length;
  const codePage = await browser.submit(form, '/methods/mobilePhone/send', { country, number, channel });
  if (!codePage.html.includes('/methods/mobilePhone/verify')) throw new Error(`phone code page not shown: ${codePage.status} ${codePage.html.slice(0, 1500)}`);
  const message = await sms.waitFor((m) => sms.messages.indexOf(m) >= before && m.to === e164);
  return browser.submit(codePage, '/methods/mobilePhone/verify', { code: codeIn(message.text) });
}

/** Reads the key shown on the page, as a person typing it into an app would. */
export function keyOnPage(page: Page): string {
  const key = /<code class="key">([^<]+)<\/code>/.exec(page.html)?.[1];
  if (!key) throw new Error('no key on the page');
  return key.replace(/\s+/g, '');
}

export async function registerAuthenticator(browser: Browser, overview: Page, now: number): Promise<{ page: Page; secret: string }> {
  const setup = await browser.follow(overview, '/methods/authenticatorApp');
  const secret = keyOnPage(setup);
  const page = await browser.submit(setup, '/methods/authenticatorApp/verify', { code: totpCodeAt(secret, totpStep(now)) });
  return { page, secret };
}

export async function registerQuestions(browser: Browser, overview: Page, answers: [string, string][]): Promise<Page> {
  const form = await browser.follow(overview, '/methods/securityQuestions');
  const values: Record<string, string> = {};
  answers.forEach(([questionId, answer], i) => {
    values[`question${i}`] = questionId;
    values[`answer${i}`] = answer;
  });
  return browser.submit(form, '/methods/securityQuestions/save', values);
}

/** Adds a passkey from the methods overview with a software authenticator (see webauthn.ts). */
export async function registerPasskey(browser: Browser, overview: Page, authenticator: SoftAuthenticator, label = 'Test passkey', o: Parameters<SoftAuthenticator['create']>[1] = {}): Promise<{ page: Page; response: ReturnType<SoftAuthenticator['create']>['response'] }> {
  const form = await browser.follow(overview, '/methods/passkey');
  const { response } = authenticator.create(passkeyOptions(form.html, 'register'), o);
  const page = await browser.submit(form, '/methods/passkey/create', { response: JSON.stringify(response), label });
  if (page.status !== 200) throw new Error(`passkey not registered: ${page.status} ${page.html.slice(0, 1500)}`);
  return { page, response };
}
