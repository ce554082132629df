/**
 * Passkey (WebAuthn): several per user, each a credential of its own. Like the authenticator app it
 * never counts alone toward the methods a user needs; it is the strongest second factor, and signs
 * in on its own with user verification (see webauthn.ts).
 */
import type { MethodFacts } from '../types.ts';

export const passkeyFacts = {
  id: 'passkey',
  storedKind: 'passkey',
  noun: 'a passkey',
  countsAlone: false,
  allowedForAdmins: true,
  // The stored value is the credential as JSON: nothing for a listing to show.
  secretValue: true,
  severalPerUser: true,
  userManaged: true,
  secondFactor: { amr: 'hwk', strength: 50 },
  offered: (methods) => methods.passkey,
} as const satisfies MethodFacts;
