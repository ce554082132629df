/** The one list of recovery methods. */
import type { RecoveryMethod, MethodDeps } from './types.ts';
import type { MethodId } from './ids.ts';
import { emailMethod } from './email.ts';
import { mobilePhoneMethod } from './mobile-phone.ts';
import { officePhoneMethod } from './office-phone.ts';
import { authenticatorAppMethod } from './authenticator-app.ts';
import { securityQuestionsMethod } from './security-questions.ts';

export type MethodRegistry = ReadonlyMap<MethodId, RecoveryMethod>;

export function createMethodRegistry(deps: MethodDeps): MethodRegistry {
  const list: RecoveryMethod[] = [
    emailMethod(deps),
    mobilePhoneMethod(deps, () => deps.config().sspr.defaultCountry),
    officePhoneMethod(deps),
    authenticatorAppMethod(deps),
    securityQuestionsMethod(deps),
  ];
  return new Map(list.map((m) => [m.id, m]));
}
