/**
 * A real HTTP SMS/voice gateway on 127.0.0.1 (random port) implementing the receiving side of the
 * webhook protocol (see src/delivery/webhook.ts): it checks X-Signature over `${X-Timestamp}.${raw body}`
 * (401 when wrong or the timestamp is more than 5 minutes off), accepts each Idempotency-Key once,
 * and can be told to fail or stall, for retry and timeout tests.
 *
 *   const sms = await startSmsReceiver('0123456789abcdef-secret');
 *   config: { transport: 'webhook', webhook: { url: sms.url, secret: '0123456789abcdef-secret' } }
 *   const text = await sms.waitFor((m) => m.to === '+31612345678');
 *   await sms.close();
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { isPhoneChannel, type PhoneChannel } from '../../src/delivery/channel.ts';
import { createInbox, type Inbox } from './inbox.ts';

export interface ReceivedSms {
  to: string;
  channel: PhoneChannel;
  text: string;
  locale: string;
}

/** Every request, accepted or not, in arrival order. */
export interface SmsRequest {
  /** Status the receiver answered (or meant to: a stalled client may have gone). */
  status: number;
  signatureValid: boolean;
  idempotencyKey: string | undefined;
  timestamp: string | undefined;
  body: string;
}

export interface SmsBehaviour {
  /** Answer the first n requests with `failStatus` (500 by default). */
  failNext?: number;
  failStatus?: number;
  /** Delay every response by this many ms. */
  delayMs?: number;
  /** Accepted clock skew of X-Timestamp in seconds (default 300). */
  maxSkewSeconds?: number;
  /** The gateway's clock (default: the real one); a test that moves the IdP's clock moves this one too. */
  now?: () => number;
}

/** `messages`: the accepted ones (one per Idempotency-Key), oldest first. */
export interface SmsReceiver extends Inbox<ReceivedSms> {
  url: string;
  requests: SmsRequest[];
  /** Answer the next n validly signed requests with `status` (default 500). */
  failNext(n: number, status?: number): void;
  /** Delay the next n responses (default 1) by ms. */
  delayNext(ms: number, n?: number): void;
  close(): Promise<void>;
}

const MAX_BODY = 64 * 1024;

function signatureMatches(secret: string, timestamp: string, body: string, header: string): boolean {
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`);
  const given = Buffer.from(header);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

function parseMessage(body: string): ReceivedSms | undefined {
  try {
    const value: unknown = JSON.parse(body);
    if (typeof value !== 'object' || value === null) return undefined;
    const { to, channel, text, locale } = value as Record<string, unknown>;
    if (typeof to !== 'string' || typeof text !== 'string' || typeof locale !== 'string') return undefined;
    if (!isPhoneChannel(channel)) return undefined;
    return { to, channel, text, locale };
  } catch {
    return undefined;
  }
}

export async function startSmsReceiver(secret: string, behaviour: SmsBehaviour = {}): Promise<SmsReceiver> {
  const inbox = createInbox<ReceivedSms>();
  const requests: SmsRequest[] = [];
  const seenKeys = new Set<string>();
  const timers = new Set<NodeJS.Timeout>();
  let failures = behaviour.failNext ?? 0;
  let failStatus = behaviour.failStatus ?? 500;
  const delays: number[] = [];
  const maxSkew = behaviour.maxSkewSeconds ?? 300;

  function respond(res: http.ServerResponse, status: number, delayMs: number, then?: () => void): void {
    let gone = false;
    res.on('close', () => {
      gone = true;
    });
    const finish = () => {
      if (gone) return; // the client gave up (timeout): nothing was delivered
      then?.();
      res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify({ status }));
    };
    if (delayMs <= 0) return finish();
    const timer = setTimeout(() => {
      timers.delete(timer);
      finish();
    }, delayMs);
    timers.add(timer);
  }

  function accept(message: ReceivedSms, key: string | undefined): void {
    if (key !== undefined) {
      if (seenKeys.has(key)) return;
      seenKeys.add(key);
    }
    inbox.add(message);
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) req.destroy();
      else chunks.push(chunk);
    });
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const header = (name: string) => {
        const value = req.headers[name];
        return Array.isArray(value) ? value[0] : value;
      };
      const timestamp = header('x-timestamp');
      const signature = header('x-signature') ?? '';
      const idempotencyKey = header('idempotency-key');
      const fresh = timestamp !== undefined && /^\d+$/.test(timestamp) && Math.abs((behaviour.now ?? Date.now)() / 1000 - Number(timestamp)) <= maxSkew;
      const signatureValid = fresh && signatureMatches(secret, timestamp, body, signature);
      const delayMs = delays.shift() ?? behaviour.delayMs ?? 0;
      const record = (status: number) => requests.push({ status, signatureValid, idempotencyKey, timestamp, body });

      if (req.method !== 'POST') {
        record(405);
        return respond(res, 405, delayMs);
      }
      if (!signatureValid) {
        record(401);
        return respond(res, 401, delayMs);
      }
      if (failures > 0) {
        failures -= 1;
        record(failStatus);
        return respond(res, failStatus, delayMs);
      }
      const message = req.headers['content-type']?.startsWith('application/json') ? parseMessage(body) : undefined;
      if (!message) {
        record(400);
        return respond(res, 400, delayMs);
      }
      record(200);
      respond(res, 200, delayMs, () => accept(message, idempotencyKey));
    });
    req.on('error', () => undefined);
  });

  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });

  return {
    url: `http://127.0.0.1:${port}/send`,
    messages: inbox.messages,
    requests,
    waitFor: inbox.waitFor,
    failNext(n, status = 500) {
      failures = n;
      failStatus = status;
    },
    delayNext(ms, n = 1) {
      for (let i = 0; i < n; i += 1) delays.push(ms);
    },
    close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
