/** Authentication (mobile) phone: a code by text message or read out by a call. */
import { defineFacts } from '../define-facts.ts';

export const mobilePhoneFacts = defineFacts({
  id: 'mobilePhone',
  storedKind: 'mobile_phone',
  noun: 'the mobile phone',
  secondFactor: { amr: 'sms', strength: 30 },
  offered: (methods) => methods.mobilePhone.enabled,
});
