/** Security questions: in a table of their own (argon2id hashes); never for administrators. */
import { defineFacts } from '../define-facts.ts';

export const securityQuestionsFacts = defineFacts({
  id: 'securityQuestions',
  noun: 'security questions',
  allowedForAdmins: false,
  secretValue: true,
  offered: (methods) => methods.securityQuestions,
  // Registered once the configured number of questions has answers.
  registered: (facts, config) => facts.answers.length >= config.securityQuestions.numberToRegister,
});
