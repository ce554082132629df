/**
 * Message delivery: one interface for email (outbox | SMTP) and one for text messages and
 * voice calls (outbox | webhook), both switching transport with the live configuration.
 */
export { DeliveryError } from './types.ts';
export type { MailMessage, MailDelivery, PhoneMessage, PhoneDelivery, DeliveryFailure } from './types.ts';
export { createMailDelivery, mailFailure, smtpTransportOptions } from './mail.ts';
export type { MailConfig, MailDeliveryDeps } from './mail.ts';
export { createPhoneDelivery, webhookSignature } from './phone.ts';
export type { PhoneConfig, PhoneDeliveryDeps } from './phone.ts';
export { maskEmail, maskPhone } from './mask.ts';
