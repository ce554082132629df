/**
 * Text message and voice call delivery: into the outbox table, or POSTed to your gateway's webhook
 * (the protocol: src/delivery/webhook.ts), or to a host's own channel per phone channel. The
 * configuration is read on every send, so a live reload switches transport at once.
 */
import type { DeliveryConfig } from '../config/sspr-schema.ts';
import { configuredChannel, guardedChannel, isPhoneChannel, type Channel, type PhoneChannel } from './channel.ts';
import type { PhoneDelivery, PhoneMessage } from './types.ts';
import { outboxTransport, type OutboxDeps } from './outbox.ts';
import { webhookTransport } from './webhook.ts';
import { maskPhone } from './mask.ts';

export type PhoneConfig = DeliveryConfig['phone'];

export interface PhoneDeliveryDeps extends OutboxDeps {
  config: () => PhoneConfig;
  /** For tests; the global fetch by default. */
  fetch?: typeof fetch;
  /** A host's sender per channel, used instead of the configured transport. */
  channels?: Partial<Record<PhoneChannel, Channel<PhoneMessage>>>;
}

const E164 = /^\+[1-9]\d{6,14}$/;

const fields = (m: PhoneMessage) => ({ kind: m.kind, channel: m.channel, to: maskPhone(m.to), userId: m.userId });

export { webhookSignature } from './webhook.ts';

/** Each message goes to the channel its `channel` names: the host's when given, the configured transport otherwise. */
export function createPhoneDelivery(deps: PhoneDeliveryDeps): PhoneDelivery {
  const configured = configuredChannel(
    deps.config,
    { outbox: outboxTransport<PhoneMessage>(deps, 'phone', (m) => ({ channel: m.channel, subject: null })), webhook: webhookTransport(deps) },
    fields,
  );
  const guard = { event: 'phone', invalid: 'invalid recipient number or channel', log: deps.log, fields, channel: (m: PhoneMessage) => m.channel, valid: (m: PhoneMessage) => E164.test(m.to) && isPhoneChannel(m.channel) };
  const own = guardedChannel(guard, configured, true);
  const hosts = Object.entries(deps.channels ?? {}).map(([name, channel]) => [name, guardedChannel(guard, channel, false)] as const);
  const byChannel: Record<PhoneChannel, Required<Channel<PhoneMessage>>> = { sms: own, voice: own, ...Object.fromEntries(hosts) };
  return {
    send: (message) => (byChannel[message.channel] ?? own).send(message),
    async close() {
      await Promise.all([own, ...hosts.map(([, channel]) => channel)].map((channel) => channel.close()));
    },
  };
}
