/**
 * Message delivery. Three channels (`mail`, `sms`, `voice`) behind one interface, `Channel`; each
 * delivers through the transport its live configuration names (mail: outbox | smtp, phone:
 * outbox | webhook), or through a sender the host passed to `createIdp(config, { channels })`.
 */
export { DeliveryError } from './types.ts';
export type { MailMessage, MailDelivery, PhoneMessage, PhoneDelivery, DeliveryFailure } from './types.ts';
export { PHONE_CHANNELS, isPhoneChannel } from './channel.ts';
export type { Channel, Channels, ChannelName, PhoneChannel, Transport } from './channel.ts';
export { createMailDelivery } from './mail.ts';
export type { MailConfig, MailDeliveryDeps } from './mail.ts';
export { mailFailure, smtpTransportOptions, watchdog } from './smtp.ts';
export { createPhoneDelivery, webhookSignature } from './phone.ts';
export type { PhoneConfig, PhoneDeliveryDeps } from './phone.ts';
export { maskEmail, maskPhone } from './mask.ts';
