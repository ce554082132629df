/** Authentication (mobile) phone: a code by text message or read out by a call. */
import type { MethodFacts } from '../types.ts';

export const mobilePhoneFacts = {
  id: 'mobilePhone',
  storedKind: 'mobile_phone',
  noun: 'the mobile phone',
  countsAlone: true,
  allowedForAdmins: true,
  secretValue: false,
  severalPerUser: false,
  userManaged: true,
  secondFactor: { amr: 'sms', strength: 30 },
  offered: (methods) => methods.mobilePhone.enabled,
} as const satisfies MethodFacts;
