/** Each method's code, by id: one line per method (its facts are in ids.ts). */
import type { RecoveryMethod, MethodDeps, MethodImplementation, ResetChallenge } from './types.ts';
import { methodIds, type MethodId } from './ids.ts';
import { emailMethod } from './email/register.ts';
import { emailChallenge } from './email/challenge.ts';
import { mobilePhoneMethod } from './mobile-phone/register.ts';
import { mobilePhoneChallenge } from './mobile-phone/challenge.ts';
import { officePhoneMethod } from './office-phone/register.ts';
import { officePhoneChallenge } from './office-phone/challenge.ts';
import { authenticatorAppMethod } from './authenticator-app/register.ts';
import { authenticatorAppChallenge } from './authenticator-app/challenge.ts';
import { securityQuestionsMethod } from './security-questions/register.ts';
import { securityQuestionsChallenge } from './security-questions/challenge.ts';
import { passkeyMethod } from './passkey/register.ts';
import { passkeyChallenge } from './passkey/challenge.ts';

const implementations: Record<MethodId, MethodImplementation> = {
  email: { registration: emailMethod, challenge: emailChallenge },
  mobilePhone: { registration: (deps) => mobilePhoneMethod(deps, () => deps.config().sspr.defaultCountry), challenge: mobilePhoneChallenge },
  officePhone: { registration: officePhoneMethod, challenge: officePhoneChallenge },
  authenticatorApp: { registration: authenticatorAppMethod, challenge: authenticatorAppChallenge },
  passkey: { registration: passkeyMethod, challenge: passkeyChallenge },
  securityQuestions: { registration: securityQuestionsMethod, challenge: securityQuestionsChallenge },
};

export type MethodRegistry = ReadonlyMap<MethodId, RecoveryMethod>;

/** The registration side of every method, in the order of ids.ts. */
export function createMethodRegistry(deps: MethodDeps): MethodRegistry {
  return new Map(methodIds.map((id) => [id, implementations[id].registration(deps)]));
}

/** The reset side of every method, in the order of ids.ts. */
export function createChallenges(deps: MethodDeps): ReadonlyMap<MethodId, ResetChallenge> {
  return new Map(methodIds.map((id) => [id, implementations[id].challenge(deps)]));
}
