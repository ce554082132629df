/**
 * Email delivery: into the outbox table, or over SMTP (nodemailer). The configuration getter is
 * read on every send, so a live configuration reload switches transport or SMTP server at once.
 * Subjects and bodies carry one-time codes: they are never logged, addresses only masked.
 */
import nodemailer from 'nodemailer';
import type { NodemailerError, SMTPSentMessageInfo, SMTPTransportOptions, Transporter } from 'nodemailer';
import type { DeliveryConfig } from '../config/sspr-schema.ts';
import type { OutboxStore } from '../store/outbox.ts';
import type { Logger } from '../logging.ts';
import type { Clock } from '../clock.ts';
import { DeliveryError, type DeliveryFailure, type MailDelivery, type MailMessage } from './types.ts';
import { maskEmail } from './mask.ts';

export type MailConfig = DeliveryConfig['mail'];

export interface MailDeliveryDeps {
  config: () => MailConfig;
  outbox: OutboxStore;
  log: Logger;
  clock: Clock;
}

/** One bare address: no display name, no list, no header or SMTP syntax smuggled in. */
const PLAIN_ADDRESS = /^[^\s@,;:<>()[\]"\\]{1,64}@[^\s@,;:<>()[\]"\\]{1,255}$/;

/** Nodemailer SMTP options from the configuration (TLS certificates are always verified). */
export function smtpTransportOptions(smtp: MailConfig['smtp']): SMTPTransportOptions {
  const timeout = smtp.timeoutSeconds * 1000;
  return {
    host: smtp.host,
    port: smtp.port,
    secure: smtp.secure,
    requireTLS: smtp.requireTLS,
    ...(smtp.user && smtp.pass ? { auth: { user: smtp.user, pass: smtp.pass } } : {}),
    connectionTimeout: timeout,
    greetingTimeout: timeout,
    socketTimeout: timeout,
  };
}

/** Nodemailer's connection-level codes: the server could not be reached or dropped the connection. */
const UNREACHABLE = new Set(['ECONNECTION', 'ESOCKET', 'EDNS', 'ETLS']);

/**
 * What went wrong, from what happened: our own cancellation or deadline first (on a stalled event
 * loop the deadline may fire before the socket reports anything, surfacing as EABORT), then the
 * server's answer, then the connection.
 */
export function mailFailure(e: NodemailerError, signals: { closed: boolean; deadline: boolean }): DeliveryFailure {
  if (signals.closed) return 'closed';
  if (signals.deadline || e.code === 'ETIMEDOUT') return 'timeout';
  if (e.code === 'EAUTH') return 'auth';
  if (typeof e.responseCode === 'number' && e.responseCode >= 400) return 'rejected';
  if (e.code !== undefined && UNREACHABLE.has(e.code)) return 'unreachable';
  return 'error';
}

export function createMailDelivery(deps: MailDeliveryDeps): MailDelivery {
  type SmtpTransporter = Transporter<SMTPSentMessageInfo, SMTPTransportOptions>;
  let cached: { key: string; transporter: SmtpTransporter } | undefined;
  const closing = new AbortController();

  function release(): void {
    cached?.transporter.close();
    cached = undefined;
  }

  function transporterFor(smtp: MailConfig['smtp']): SmtpTransporter {
    const key = JSON.stringify(smtp);
    if (cached?.key !== key) {
      release();
      cached = { key, transporter: nodemailer.createTransport(smtpTransportOptions(smtp)) };
    }
    return cached.transporter;
  }

  return {
    async send(message: MailMessage): Promise<void> {
      const { kind, userId } = message;
      const to = maskEmail(message.to);
      if (closing.signal.aborted) throw new DeliveryError('email', 'mail delivery is closed', 'closed');
      if (!PLAIN_ADDRESS.test(message.to)) {
        deps.log.warn({ event: 'mail.invalid_recipient', kind, to, userId });
        throw new DeliveryError('email', 'invalid recipient address', 'invalid');
      }
      const config = deps.config();

      if (config.transport === 'outbox') {
        release();
        await deps.outbox.add({
          channel: 'email',
          recipient: message.to,
          subject: message.subject,
          body: message.text,
          userId: message.userId ?? null,
          createdAt: deps.clock.now(),
        });
        deps.log.info({ event: 'mail.outbox', kind, to, userId });
        return;
      }

      const transporter = transporterFor(config.smtp);
      // socketTimeout only catches silence; this bounds a server that trickles.
      const deadline = AbortSignal.timeout(config.smtp.timeoutSeconds * 3000);
      try {
        const info = await transporter.sendMail({
          from: config.from,
          to: message.to,
          subject: message.subject,
          text: message.text,
          ...(message.html === undefined ? {} : { html: message.html }),
          headers: { 'Auto-Submitted': 'auto-generated' },
          disableFileAccess: true,
          disableUrlAccess: true,
          signal: AbortSignal.any([closing.signal, deadline]),
        });
        deps.log.info({ event: 'mail.sent', kind, to, userId, messageId: info.messageId });
      } catch (err) {
        const e = (err ?? {}) as NodemailerError;
        const detail = String(e.message ?? err).split(message.to).join(to).slice(0, 300);
        const reason = mailFailure(e, { closed: closing.signal.aborted, deadline: deadline.aborted });
        deps.log.warn({
          event: 'mail.failed',
          kind,
          to,
          userId,
          reason,
          errorCode: e.code,
          responseCode: e.responseCode,
          command: e.command,
          error: detail,
        });
        throw new DeliveryError('email', `smtp: ${reason} (${e.code ?? 'error'})`, reason);
      }
    },

    async close(): Promise<void> {
      closing.abort();
      release();
    },
  };
}
