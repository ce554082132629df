/**
 * Passkey (WebAuthn): several per user, each a credential of its own. Like the authenticator app it
 * never counts alone toward the methods a user needs; it is the strongest second factor, and signs
 * in on its own with user verification (see webauthn.ts).
 */
import { defineFacts } from '../define-facts.ts';

export const passkeyFacts = defineFacts({
  id: 'passkey',
  storedKind: 'passkey',
  noun: 'a passkey',
  countsAlone: false,
  // The stored value is the credential as JSON: nothing for a listing to show.
  secretValue: true,
  severalPerUser: true,
  secondFactor: { amr: 'hwk', strength: 50 },
  offered: (methods) => methods.passkey,
});
