/** Authentication email: a code mailed to the address. */
import { defineFacts } from '../define-facts.ts';

export const emailFacts = defineFacts({
  id: 'email',
  storedKind: 'email',
  noun: 'the authentication email',
  secondFactor: { amr: 'otp', strength: 10 },
  offered: (methods) => methods.email,
});
