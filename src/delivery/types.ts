/** What the delivery layer sends, and the one error it throws. */
import { AppError } from '../errors.ts';

export interface MailMessage {
  /** One plain address (`name@domain`); anything else is refused. */
  to: string;
  subject: string;
  text: string;
  html?: string;
  userId?: string;
  /** Template id for logs, e.g. 'register.email.code'. */
  kind: string;
}

export interface MailDelivery {
  /** Resolves once the message is stored (outbox) or accepted by the SMTP server; throws DeliveryError otherwise. */
  send(message: MailMessage): Promise<void>;
  /** Releases the SMTP transport and cancels sends still under way. */
  close(): Promise<void>;
}

export interface PhoneMessage {
  /** E.164, e.g. +31612345678. */
  to: string;
  channel: 'sms' | 'voice';
  text: string;
  locale: 'en' | 'nl';
  userId?: string;
  /** Template id for logs, e.g. 'reset.sms.code'. */
  kind: string;
}

export interface PhoneDelivery {
  /** Resolves once the message is stored (outbox) or accepted by the gateway (2xx); throws DeliveryError otherwise. */
  send(message: PhoneMessage): Promise<void>;
  /** Cancels webhook attempts still under way. */
  close(): Promise<void>;
}

/**
 * Why a delivery failed, decided from what happened rather than from one socket error code (a
 * refused connection and a timed-out one look different on a loaded machine, both are `unreachable`
 * or `timeout`): `invalid` recipient, `closed` delivery, `unreachable` server, `timeout` (the
 * server's silence or the overall deadline), `auth` (login refused), `rejected` (the server or
 * gateway answered with an error), `error` (anything else).
 */
export type DeliveryFailure = 'invalid' | 'closed' | 'unreachable' | 'timeout' | 'auth' | 'rejected' | 'error';

/** Delivery failed; the user sees "couldn't send, try again or use another method". */
export class DeliveryError extends AppError {
  readonly channel: 'email' | 'sms' | 'voice';
  readonly reason: DeliveryFailure;

  constructor(channel: 'email' | 'sms' | 'voice', detail?: string, reason: DeliveryFailure = 'error') {
    super('delivery_failed', detail);
    this.name = 'DeliveryError';
    this.channel = channel;
    this.reason = reason;
  }
}
