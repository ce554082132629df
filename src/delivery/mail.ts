/**
 * Email delivery: into the outbox table, over SMTP (src/delivery/smtp.ts), or to a host's own mail
 * channel. The configuration is read on every send, so a live reload switches transport or SMTP
 * server at once. Subjects and bodies carry one-time codes: they are never logged, addresses only masked.
 */
import type { DeliveryConfig } from '../config/sspr-schema.ts';
import { configuredChannel, guardedChannel, type Channel } from './channel.ts';
import type { MailDelivery, MailMessage } from './types.ts';
import { outboxTransport, type OutboxDeps } from './outbox.ts';
import { smtpTransport } from './smtp.ts';
import { maskEmail } from './mask.ts';

export type MailConfig = DeliveryConfig['mail'];

export interface MailDeliveryDeps extends OutboxDeps {
  config: () => MailConfig;
  /** A host's mail sender, used instead of the configured transport. */
  channel?: Channel<MailMessage>;
}

/** One bare address: no display name, no list, no header or SMTP syntax smuggled in. */
const PLAIN_ADDRESS = /^[^\s@,;:<>()[\]"\\]{1,64}@[^\s@,;:<>()[\]"\\]{1,255}$/;

const fields = (m: MailMessage) => ({ kind: m.kind, to: maskEmail(m.to), userId: m.userId });

export function createMailDelivery(deps: MailDeliveryDeps): MailDelivery {
  const inner = deps.channel ?? configuredChannel(deps.config, { outbox: outboxTransport<MailMessage>(deps, 'mail', (m) => ({ channel: 'email', subject: m.subject })), smtp: smtpTransport(deps) }, fields);
  return guardedChannel(
    { event: 'mail', invalid: 'invalid recipient address', log: deps.log, fields, channel: () => 'email', valid: (m) => PLAIN_ADDRESS.test(m.to) },
    inner,
    deps.channel === undefined,
  );
}
