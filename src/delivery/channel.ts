/**
 * The channels a message goes out on, and the one interface every sender implements: the built-in
 * ones (outbox, SMTP, webhook) and a host's own, passed to `createIdp(config, { channels })`.
 */
import type { Logger } from '../logging.ts';
import { DeliveryError, type MailMessage, type PhoneMessage } from './types.ts';

/** The phone channels: a text message or a voice call that reads the code out. */
export const PHONE_CHANNELS = ['sms', 'voice'] as const;
export type PhoneChannel = (typeof PHONE_CHANNELS)[number];
/** A channel as the outbox, the logs and DeliveryError name it. */
export type ChannelName = 'email' | PhoneChannel;

export function isPhoneChannel(value: unknown): value is PhoneChannel {
  return (PHONE_CHANNELS as readonly unknown[]).includes(value);
}

/**
 * Sends one kind of message. `send` resolves once the message is accepted (stored, or taken by the
 * server or gateway) and rejects otherwise (a DeliveryError, or any error: it is shown to the user
 * as "couldn't send"). The IdP checks the recipient before calling it: one plain address for mail,
 * E.164 for phones.
 */
export interface Channel<M> {
  send(message: M): Promise<void>;
  /** Called by the IdP's close() for its own channels; a host's channel is the host's to close. */
  close?(): Promise<void>;
}

/** The senders a host may replace: `mail`, `sms` and `voice` (one object may serve both phone channels). */
export interface Channels {
  mail: Channel<MailMessage>;
  sms: Channel<PhoneMessage>;
  voice: Channel<PhoneMessage>;
}

/** Log fields of a message: never its text, the recipient only masked. */
export type LogFields = Record<string, string | undefined>;

/** One way for a channel to deliver, registered under the name its `transport` key selects. */
export interface Transport<M, C> {
  send(message: M, config: C, fields: LogFields): Promise<void>;
  /** The configuration switched to another transport: let go of connections. */
  release?(): void;
  /** The channel closes: cancel sends under way, let go of connections. */
  close?(): void;
}

/**
 * A channel that delivers through the transport its live configuration names, looked up in
 * `transports` on every send (a reload switches at once); the one used before is released.
 */
export function configuredChannel<M, K extends string, C extends { transport: K }>(
  config: () => C,
  transports: Record<K, Transport<M, C>>,
  fields: (message: M) => LogFields,
): Required<Channel<M>> {
  let last: Transport<M, C> | undefined;
  return {
    async send(message) {
      const current = config();
      const transport = transports[current.transport];
      if (last !== transport) last?.release?.();
      last = transport;
      await transport.send(message, current, fields(message));
    },
    async close() {
      for (const transport of Object.values<Transport<M, C>>(transports)) transport.close?.();
    },
  };
}

/** What a guarded channel checks before it hands a message on. */
export interface Guard<M> {
  /** The channel named in errors and logs. */
  channel: (message: M) => ChannelName;
  /** Log event prefix and the noun in errors: `mail` or `phone`. */
  event: string;
  /** Says what an invalid message got wrong, for the error's detail. */
  invalid: string;
  valid: (message: M) => boolean;
  fields: (message: M) => LogFields;
  log: Logger;
}

/**
 * Refuses a message once closed or when its recipient is not acceptable (logged, masked), before
 * any sender sees it. Closing closes the inner channel only when it is `owned` (not a host's).
 */
export function guardedChannel<M>(guard: Guard<M>, inner: Channel<M>, owned: boolean): Required<Channel<M>> {
  let closed = false;
  return {
    async send(message) {
      const channel = guard.channel(message);
      if (closed) throw new DeliveryError(channel, `${guard.event} delivery is closed`, 'closed');
      if (!guard.valid(message)) {
        guard.log.warn({ event: `${guard.event}.invalid_recipient`, ...guard.fields(message) });
        throw new DeliveryError(channel, guard.invalid, 'invalid');
      }
      if (owned) return inner.send(message);
      try {
        await inner.send(message);
      } catch (error) {
        if (error instanceof DeliveryError) throw error;
        // A host's sender may throw anything; the user gets "couldn't send", the log no message text.
        guard.log.warn({ event: `${guard.event}.failed`, ...guard.fields(message), reason: 'error', error: error instanceof Error ? error.name : typeof error });
        throw new DeliveryError(channel, `${guard.event}: the host's channel failed`, 'error');
      }
    },
    async close() {
      closed = true;
      if (owned) await inner.close?.();
    },
  };
}
