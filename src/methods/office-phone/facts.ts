/** Office phone: set by an administrator, called at reset. */
import type { MethodFacts } from '../types.ts';

export const officePhoneFacts = {
  id: 'officePhone',
  storedKind: 'office_phone',
  noun: 'the office phone',
  countsAlone: true,
  allowedForAdmins: true,
  secretValue: false,
  severalPerUser: false,
  userManaged: false,
  secondFactor: { amr: 'tel', strength: 20 },
  offered: (methods) => methods.officePhone,
} as const satisfies MethodFacts;
