/** Authenticator app (TOTP): never enough on its own; its key is never shown again. */
import { defineFacts } from '../define-facts.ts';

export const authenticatorAppFacts = defineFacts({
  id: 'authenticatorApp',
  storedKind: 'authenticator_app',
  noun: 'the authenticator app',
  countsAlone: false,
  secretValue: true,
  secondFactor: { amr: 'otp', strength: 40 },
  offered: (methods) => methods.authenticatorApp,
});
