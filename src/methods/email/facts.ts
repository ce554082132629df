/** Authentication email: a code mailed to the address. */
import type { MethodFacts } from '../types.ts';

export const emailFacts = {
  id: 'email',
  storedKind: 'email',
  noun: 'the authentication email',
  countsAlone: true,
  allowedForAdmins: true,
  secretValue: false,
  severalPerUser: false,
  userManaged: true,
  secondFactor: { amr: 'otp', strength: 10 },
  offered: (methods) => methods.email,
} as const satisfies MethodFacts;
