/** Authenticator app (TOTP): never enough on its own; its key is never shown again. */
import type { MethodFacts } from '../types.ts';

export const authenticatorAppFacts = {
  id: 'authenticatorApp',
  storedKind: 'authenticator_app',
  noun: 'the authenticator app',
  countsAlone: false,
  allowedForAdmins: true,
  secretValue: true,
  severalPerUser: false,
  userManaged: true,
  secondFactor: { amr: 'otp', strength: 40 },
  offered: (methods) => methods.authenticatorApp,
} as const satisfies MethodFacts;
