/** Security questions: in a table of their own (argon2id hashes); never for administrators. */
import type { MethodFacts } from '../types.ts';

export const securityQuestionsFacts = {
  id: 'securityQuestions',
  noun: 'security questions',
  countsAlone: true,
  allowedForAdmins: false,
  secretValue: true,
  severalPerUser: false,
  userManaged: true,
  offered: (methods) => methods.securityQuestions,
  // Registered once the configured number of questions has answers.
  registered: (facts, config) => facts.answers.length >= config.securityQuestions.numberToRegister,
} as const satisfies MethodFacts;
