/**
 * The webhook transport for text messages and voice calls: POSTed, signed, to your gateway.
 * Message texts carry one-time codes: they are never logged, numbers only masked.
 *
 * ## Webhook protocol
 *
 * `POST <webhook.url>` with the JSON body `{ "to": "+31612345678", "channel": "sms" | "voice",
 * "text": "...", "locale": "en" | "nl" }` and the headers
 *
 * - `Content-Type: application/json`
 * - `X-Timestamp: <unix seconds>`
 * - `X-Signature: sha256=<hex>`: HMAC-SHA256, keyed with `webhook.secret`, of the string
 *   `${X-Timestamp}.${raw body}` (the exact bytes received, not re-serialised JSON).
 * - `Idempotency-Key: <uuid>`: the same for every attempt at one message.
 *
 * A receiver should recompute the signature over the raw body and compare in constant time,
 * refuse requests whose timestamp is more than a few minutes from its own clock (replays),
 * and send a message at most once per Idempotency-Key. Reply 2xx once the message is accepted.
 *
 * Each attempt times out after `webhook.timeoutMs`. Network errors, timeouts, 429 and 5xx are
 * retried up to `webhook.retries` times, after 200 ms × 2^n (at most 2 s) plus up to 100 ms of
 * jitter, or after Retry-After when that is longer (at most 5 s); each retry carries a fresh
 * timestamp and signature. Any other status (4xx, 3xx: redirects are not followed) fails at once.
 * A send therefore takes at most (retries + 1) × timeoutMs + retries × 5.1 s.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../logging.ts';
import type { Clock } from '../clock.ts';
import type { LogFields, Transport } from './channel.ts';
import { DeliveryError, type DeliveryFailure, type PhoneMessage } from './types.ts';
import type { PhoneConfig } from './phone.ts';

export interface WebhookDeps {
  log: Logger;
  clock: Clock;
  /** For tests; the global fetch by default. */
  fetch?: typeof fetch;
}

const BASE_DELAY_MS = 200;
const MAX_BACKOFF_MS = 2000;
const MAX_RETRY_AFTER_MS = 5000;
const JITTER_MS = 100;

/** `sha256=<hex>` over `${timestamp}.${body}`; exported for receivers written in TypeScript and for tests. */
export function webhookSignature(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

type Attempt = { ok: true; status: number } | { ok: false; retry: boolean; status?: number; error?: string; retryAfterMs?: number };

function retryAfterMs(header: string | null, now: number): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function describeFetchError(err: unknown): string {
  if (err instanceof Error) {
    if (err.name === 'TimeoutError') return 'timeout';
    if (err.name === 'AbortError') return 'aborted';
    const cause = (err as Error & { cause?: { code?: unknown } }).cause;
    if (cause && typeof cause.code === 'string') return cause.code;
    return err.name;
  }
  return 'error';
}

/** Why the last attempt failed, from what happened (the gateway's status, our timeout, our close, the network). */
function phoneFailure(outcome: { status?: number; error?: string }, closed: boolean): DeliveryFailure {
  if (closed) return 'closed';
  if (outcome.status === 401 || outcome.status === 403) return 'auth';
  if (outcome.status !== undefined) return 'rejected';
  if (outcome.error === 'timeout') return 'timeout';
  return 'unreachable';
}

/** POSTs each message to `webhook.url`, retrying as described above; close() cancels attempts and backoffs. */
export function webhookTransport(deps: WebhookDeps): Transport<PhoneMessage, PhoneConfig> {
  const doFetch = deps.fetch ?? globalThis.fetch;
  const closing = new AbortController();

  async function attempt(url: string, secret: string, timeoutMs: number, body: string, idempotencyKey: string): Promise<Attempt> {
    const timestamp = String(Math.floor(deps.clock.now() / 1000));
    try {
      const response = await doFetch(url, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          'X-Timestamp': timestamp,
          'X-Signature': webhookSignature(secret, timestamp, body),
          'Idempotency-Key': idempotencyKey,
        },
        body,
        redirect: 'manual',
        signal: AbortSignal.any([AbortSignal.timeout(timeoutMs), closing.signal]),
      });
      await response.body?.cancel().catch(() => undefined);
      if (response.ok) return { ok: true, status: response.status };
      const retry = response.status >= 500 || response.status === 429;
      const after = retryAfterMs(response.headers.get('retry-after'), Date.now());
      return { ok: false, retry, status: response.status, ...(after === undefined ? {} : { retryAfterMs: after }) };
    } catch (err) {
      return { ok: false, retry: !closing.signal.aborted, error: describeFetchError(err) };
    }
  }

  return {
    async send(message, config, fields: LogFields) {
      const { channel } = message;
      const { url, secret, timeoutMs, retries } = config.webhook;
      if (!url || !secret) {
        deps.log.error({ event: 'phone.failed', ...fields, error: 'webhook url or secret not configured' });
        throw new DeliveryError(channel, 'webhook not configured');
      }
      const body = JSON.stringify({ to: message.to, channel, text: message.text, locale: message.locale });
      const idempotencyKey = randomUUID();
      for (let n = 0; ; n += 1) {
        const outcome = await attempt(url, secret, timeoutMs, body, idempotencyKey);
        if (outcome.ok) {
          deps.log.info({ event: 'phone.sent', ...fields, attempts: n + 1, status: outcome.status });
          return;
        }
        const failure = { ...fields, attempts: n + 1, status: outcome.status, error: outcome.error };
        if (!outcome.retry || n >= retries || closing.signal.aborted) {
          const reason = phoneFailure(outcome, closing.signal.aborted);
          deps.log.warn({ event: 'phone.failed', ...failure, reason });
          throw new DeliveryError(channel, outcome.status ? `webhook status ${outcome.status}` : `webhook ${outcome.error ?? 'error'}`, reason);
        }
        deps.log.warn({ event: 'phone.retry', ...failure });
        const backoff = Math.min(BASE_DELAY_MS * 2 ** n, MAX_BACKOFF_MS) + Math.floor(Math.random() * JITTER_MS);
        const delay = Math.max(backoff, Math.min(outcome.retryAfterMs ?? 0, MAX_RETRY_AFTER_MS));
        try {
          await sleep(delay, undefined, { signal: closing.signal });
        } catch {
          deps.log.warn({ event: 'phone.failed', ...failure, error: 'closed', reason: 'closed' });
          throw new DeliveryError(channel, 'phone delivery is closed', 'closed');
        }
      }
    },
    close() {
      closing.abort();
    },
  };
}
