/** The reset flow as a user goes through it over HTTP: start → email code (from the outbox) → new password. */
import type { Browser } from '../../helpers/browser.ts';
import { codeIn } from '../../helpers/register.ts';
import type { Store } from '../../../src/store/index.ts';
import { username, emailOf } from './seed.ts';

/** The code in the first message to `recipient` newer than message `afterId`, polled from the outbox. */
export async function codeFromOutbox(store: Store, recipient: string, afterId: number): Promise<string | undefined> {
  for (let tries = 0; tries < 500; tries += 1) {
    const [message] = await store.outbox.latest({ recipient }, 1);
    if (message && message.id > afterId) return codeIn(message.body);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return undefined;
}

export const lastOutboxId = async (store: Store, recipient: string) => (await store.outbox.latest({ recipient }, 1))[0]?.id ?? 0;

export async function resetOnce(browser: Browser, issuer: string, store: Store, i: number, n: number): Promise<void> {
  const start = await browser.navigate(`${issuer}/reset`);
  const methods = await browser.submit(start, '/reset', { username: username(i) });
  const before = await lastOutboxId(store, emailOf(i));
  const codePage = await browser.submit(methods, '/reset/flow/method', { method: 'email' });
  const code = await codeFromOutbox(store, emailOf(i), before);
  if (!code) throw new Error(`no code for ${username(i)} (page ${codePage.status}): ${codePage.html.slice(0, 300)}`);
  const passwordPage = await browser.submit(codePage, '/reset/flow/answer', { code });
  const password = `harbour ${n} ${Math.random().toString(36).slice(2)} violet candle`;
  const done = await browser.submit(passwordPage, '/reset/flow/password', { password, confirm: password });
  if (done.status !== 200 || !/Your password has been reset/.test(done.html)) throw new Error(`reset of ${username(i)} did not finish (status ${done.status}): ${done.html.slice(0, 300)}`);
}
