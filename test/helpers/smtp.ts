/**
 * A real SMTP server on 127.0.0.1 (random port) that keeps what it receives, for tests that send
 * mail. Plain text only (no TLS): point the IdP at it with `{ host: '127.0.0.1', port, secure: false }`.
 *
 *   const smtp = await startSmtp();
 *   ... trigger a mail ...
 *   const mail = await smtp.waitFor((m) => m.to.includes('jane@example.org'));
 *   await smtp.close();
 */
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { simpleParser, type AddressObject } from 'mailparser';
import { createInbox, type Inbox } from './inbox.ts';

export interface ReceivedMail {
  /** Envelope recipients (RCPT TO), lower-cased: who the message was actually delivered to. */
  to: string[];
  /** The From header as written, e.g. `oidc-sspr <no-reply@localhost>`. */
  from: string;
  /** Envelope sender (MAIL FROM). */
  mailFrom: string;
  subject: string;
  text: string;
  html?: string;
  /** All headers, lower-case names, values as text. */
  headers: Record<string, string>;
  /** The SMTP user the client authenticated as, if it did. */
  user?: string;
}

export interface SmtpOptions {
  /** Require this login (AUTH PLAIN/LOGIN, allowed without TLS); without it the server takes mail from anyone. */
  auth?: { user: string; pass: string };
}

export interface TestSmtp extends Inbox<ReceivedMail> {
  port: number;
  /**
   * Holds every message from now on (not accepted, not in `messages`) until the returned release is
   * called, or after safetyMs (default 60 s) so that a client waiting for it can't hang a test. The
   * safety is no deadline a slow request may run into: a test that holds mail releases it itself.
   */
  hold(safetyMs?: number): () => void;
  close(): Promise<void>;
}

function addressText(value: AddressObject | AddressObject[] | undefined): string {
  if (!value) return '';
  return (Array.isArray(value) ? value : [value]).map((a) => a.text).join(', ');
}

export async function startSmtp(options: SmtpOptions = {}): Promise<TestSmtp> {
  const inbox = createInbox<ReceivedMail>('mail');
  const auth = options.auth;
  let held: Promise<void> | undefined;

  const server = new SMTPServer({
    secure: false,
    disabledCommands: auth ? ['STARTTLS'] : ['STARTTLS', 'AUTH'],
    authOptional: !auth,
    allowInsecureAuth: true,
    closeTimeout: 200,
    logger: false,
    onAuth(credentials, _session, callback) {
      if (auth && credentials.username === auth.user && credentials.password === auth.pass) {
        callback(null, { user: credentials.username });
      } else {
        callback(new Error('Invalid username or password'));
      }
    },
    onData(stream, session, callback) {
      simpleParser(stream).then(
        async (parsed) => {
          if (held) await held;
          const headers: Record<string, string> = {};
          for (const line of parsed.headerLines) {
            headers[line.key] = line.line.slice(line.line.indexOf(':') + 1).trim();
          }
          const mail: ReceivedMail = {
            to: session.envelope.rcptTo.map((r) => r.address.toLowerCase()),
            from: addressText(parsed.from),
            mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            subject: parsed.subject ?? '',
            text: parsed.text ?? '',
            ...(typeof parsed.html === 'string' ? { html: parsed.html } : {}),
            headers,
            ...(typeof session.user === 'string' ? { user: session.user } : {}),
          };
          inbox.add(mail);
          callback();
        },
        (err: unknown) => callback(err instanceof Error ? err : new Error(String(err))),
      );
    },
  });

  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.server.address() as AddressInfo).port));
  });
  // Client misbehaviour (dropped connections, timeouts) is part of what tests exercise.
  server.on('error', () => undefined);

  return {
    port,
    messages: inbox.messages,
    waitFor: inbox.waitFor,
    hold(safetyMs = 60_000) {
      let release!: () => void;
      held = new Promise<void>((resolve) => (release = resolve));
      const timer = setTimeout(() => release(), safetyMs);
      return () => {
        clearTimeout(timer);
        held = undefined;
        release();
      };
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
