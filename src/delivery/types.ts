/** What the delivery layer sends, and the one error it throws. */
import { AppError } from '../errors.ts';
import type { ChannelName, PhoneChannel } from './channel.ts';

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

/** The mail channel as the IdP uses it: resolves once stored (outbox) or accepted; throws DeliveryError otherwise. */
export interface MailDelivery {
  send(message: MailMessage): Promise<void>;
  /** Refuses further sends; the built-in transports also cancel sends under way and release the SMTP connection. */
  close(): Promise<void>;
}

export interface PhoneMessage {
  /** E.164, e.g. +31612345678. */
  to: string;
  channel: PhoneChannel;
  text: string;
  locale: 'en' | 'nl';
  userId?: string;
  /** Template id for logs, e.g. 'reset.sms.code'. */
  kind: string;
}

/** Text messages and voice calls, each handed to the channel `message.channel` names; throws DeliveryError on failure. */
export interface PhoneDelivery {
  send(message: PhoneMessage): Promise<void>;
  /** Refuses further sends; the built-in webhook also cancels attempts under way. */
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
  readonly channel: ChannelName;
  readonly reason: DeliveryFailure;

  constructor(channel: ChannelName, detail?: string, reason: DeliveryFailure = 'error') {
    super('delivery_failed', detail);
    this.name = 'DeliveryError';
    this.channel = channel;
    this.reason = reason;
  }
}
