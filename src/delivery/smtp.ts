/**
 * The SMTP transport (nodemailer). What a failure is reported as depends on what happened on the
 * connection, not on which timer fired first: the connection is opened and watched here, and every
 * timer of ours (connect/idle timeout, the overall deadline) waits for the I/O already due before it
 * judges. On a stalled event loop a refused connection and the timers become due together; the
 * refusal then still reads as `unreachable`, and only real silence as `timeout`.
 */
import net from 'node:net';
import nodemailer from 'nodemailer';
import type { NodemailerError, SMTPSentMessageInfo, SMTPTransportOptions, Transporter } from 'nodemailer';
import type { DeliveryConfig } from '../config/sspr-schema.ts';
import type { Logger } from '../logging.ts';
import type { LogFields, Transport } from './channel.ts';
import { DeliveryError, type DeliveryFailure, type MailMessage } from './types.ts';
import { maskEmail } from './mask.ts';

export type MailConfig = DeliveryConfig['mail'];
type SmtpConfig = MailConfig['smtp'];

/** The overall deadline of one send, in timeouts: bounds a server that trickles. */
const DEADLINE_TIMEOUTS = 3;
/**
 * Nodemailer's own timers only back ours up; they never fire first, since a timer that fires
 * without letting due I/O run would decide the outcome by who won.
 */
const BACKSTOP_TIMEOUTS = 10 * DEADLINE_TIMEOUTS;

/** Nodemailer SMTP options from the configuration (TLS certificates are always verified). */
export function smtpTransportOptions(smtp: SmtpConfig, getSocket?: SMTPTransportOptions['getSocket']): SMTPTransportOptions {
  const backstop = smtp.timeoutSeconds * 1000 * BACKSTOP_TIMEOUTS;
  return {
    host: smtp.host,
    port: smtp.port,
    secure: smtp.secure,
    requireTLS: smtp.requireTLS,
    ...(smtp.user && smtp.pass ? { auth: { user: smtp.user, pass: smtp.pass } } : {}),
    connectionTimeout: backstop,
    greetingTimeout: backstop,
    socketTimeout: backstop,
    ...(getSocket ? { getSocket } : {}),
  };
}

/** Connection-level codes: the server could not be reached or dropped the connection. */
const UNREACHABLE = new Set(['ECONNECTION', 'ESOCKET', 'EDNS', 'ETLS', 'ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);

/**
 * What went wrong: our own close first, then a timeout of ours (`deadline`: declared only after the
 * I/O already due was seen), then the server's answer, then the connection.
 */
export function mailFailure(e: NodemailerError, signals: { closed: boolean; deadline: boolean }): DeliveryFailure {
  if (signals.closed) return 'closed';
  if (signals.deadline || e.code === 'ETIMEDOUT') return 'timeout';
  if (e.code === 'EAUTH') return 'auth';
  if (typeof e.responseCode === 'number' && e.responseCode >= 400) return 'rejected';
  if (e.code !== undefined && UNREACHABLE.has(e.code)) return 'unreachable';
  return 'error';
}

/**
 * Calls `expired` once `ms` pass with no change in `progress()`, judged only after the I/O already
 * due has run: a timer that comes due together with a socket event (a stalled event loop makes
 * them due together) does not decide for it. Returns a cancel function.
 */
export function watchdog(ms: number, progress: () => number, expired: () => void): () => void {
  const tick = Math.max(Math.floor(ms / 4), 1);
  let seen = progress();
  let since = performance.now();
  let timer: NodeJS.Timeout | undefined;
  let check: NodeJS.Immediate | undefined;
  const arm = (delay: number) => {
    timer = setTimeout(() => {
      // setImmediate runs after the poll phase: socket events that were waiting are handled first.
      check = setImmediate(() => {
        const now = progress();
        if (now !== seen) {
          seen = now;
          since = performance.now();
        }
        const quiet = performance.now() - since;
        if (quiet >= ms) expired();
        else arm(Math.min(tick, ms - quiet));
      });
    }, delay);
  };
  arm(Math.min(tick, ms));
  return () => {
    clearTimeout(timer);
    if (check) clearImmediate(check);
  };
}

interface Watch {
  /** One of our timers (no progress, or the overall deadline) ended the send. */
  timedOut: boolean;
  stop(): void;
}

/**
 * Opens the TCP connection for nodemailer and watches it: no byte in or out for `timeoutSeconds`
 * (connecting, the greeting, any reply) ends it as a timeout. TLS, STARTTLS and SMTP stay nodemailer's.
 */
function watchedSocket(smtp: SmtpConfig, watch: Watch): SMTPTransportOptions['getSocket'] {
  return (_options, callback) => {
    const socket = net.connect({ host: smtp.host, port: smtp.port });
    let connected = false;
    const stop = watchdog(
      smtp.timeoutSeconds * 1000,
      () => socket.bytesRead + socket.bytesWritten + (connected ? 1 : 0),
      () => {
        watch.timedOut = true;
        socket.destroy(Object.assign(new Error(connected ? 'SMTP server went silent' : 'Connection timeout'), { code: 'ETIMEDOUT' }));
      },
    );
    const previous = watch.stop;
    watch.stop = () => {
      previous();
      stop();
      socket.destroy();
    };
    socket.once('connect', () => {
      connected = true;
      socket.off('error', failed);
      // nodemailer's own handlers take the errors from here on; this one keeps a late one from being unhandled
      socket.on('error', () => undefined);
      callback(null, { connection: socket });
    });
    const failed = (error: Error) => {
      stop();
      callback(error);
    };
    socket.once('error', failed);
  };
}

export interface SmtpDeps {
  log: Logger;
}

/** Sends through the configured SMTP server, on a connection of its own per message. */
export function smtpTransport(deps: SmtpDeps): Transport<MailMessage, MailConfig> {
  const closing = new AbortController();

  async function sendMail(message: MailMessage, config: MailConfig, watch: Watch): Promise<SMTPSentMessageInfo> {
    const deadline = new AbortController();
    const stopDeadline = watchdog(config.smtp.timeoutSeconds * 1000 * DEADLINE_TIMEOUTS, () => 0, () => {
      watch.timedOut = true;
      deadline.abort();
    });
    // A transporter per message (nodemailer opens a connection per message anyway without a pool),
    // so that the watched socket and what happened to it are this message's.
    const transporter: Transporter<SMTPSentMessageInfo, SMTPTransportOptions> = nodemailer.createTransport(smtpTransportOptions(config.smtp, watchedSocket(config.smtp, watch)));
    try {
      return await transporter.sendMail({
        from: config.from,
        to: message.to,
        subject: message.subject,
        text: message.text,
        ...(message.html === undefined ? {} : { html: message.html }),
        headers: { 'Auto-Submitted': 'auto-generated' },
        disableFileAccess: true,
        disableUrlAccess: true,
        signal: AbortSignal.any([closing.signal, deadline.signal]),
      });
    } finally {
      stopDeadline();
      transporter.close();
    }
  }

  return {
    async send(message, config, fields: LogFields) {
      const watch: Watch = { timedOut: false, stop: () => undefined };
      try {
        const info = await sendMail(message, config, watch);
        deps.log.info({ event: 'mail.sent', ...fields, messageId: info.messageId });
      } catch (err) {
        const e = (err ?? {}) as NodemailerError;
        const detail = String(e.message ?? err).split(message.to).join(maskEmail(message.to)).slice(0, 300);
        const reason = mailFailure(e, { closed: closing.signal.aborted, deadline: watch.timedOut });
        deps.log.warn({ event: 'mail.failed', ...fields, reason, errorCode: e.code, responseCode: e.responseCode, command: e.command, error: detail });
        throw new DeliveryError('email', `smtp: ${reason} (${e.code ?? 'error'})`, reason);
      } finally {
        watch.stop();
      }
    },
    close() {
      closing.abort();
    },
  };
}
