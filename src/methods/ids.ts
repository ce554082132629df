/**
 * The one list of recovery methods, in the order pages show them: their ids and facts. The
 * configuration schema, the policy, the CLI and the reports derive from it; registry.ts adds each
 * method's code. Adding a method: a folder under src/methods/, its line here and in registry.ts,
 * its catalogue entries and views.
 */
import type { StoredMethodKind } from '../store/sspr.ts';
import type { MethodFacts } from './types.ts';
import { emailFacts } from './email/facts.ts';
import { mobilePhoneFacts } from './mobile-phone/facts.ts';
import { officePhoneFacts } from './office-phone/facts.ts';
import { authenticatorAppFacts } from './authenticator-app/facts.ts';
import { securityQuestionsFacts } from './security-questions/facts.ts';
import { passkeyFacts } from './passkey/facts.ts';

export const methodList = [emailFacts, mobilePhoneFacts, officePhoneFacts, authenticatorAppFacts, passkeyFacts, securityQuestionsFacts] as const;

export type MethodId = (typeof methodList)[number]['id'];
export const methodIds: readonly MethodId[] = methodList.map((m) => m.id);

const byId = new Map<string, MethodFacts>(methodList.map((m) => [m.id, m]));

export function isMethodId(value: unknown): value is MethodId {
  return typeof value === 'string' && byId.has(value);
}

export function methodFacts(id: MethodId): MethodFacts {
  return byId.get(id)!;
}

/** The method whose rows in sspr_methods have this kind. */
export function methodOfKind(kind: StoredMethodKind): MethodId {
  return (methodList.find((m) => 'storedKind' in m && m.storedKind === kind)?.id ?? 'email') as MethodId;
}
