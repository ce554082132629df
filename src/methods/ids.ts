/** The recovery methods, their stored kinds and their rules. */
import type { StoredMethodKind } from '../store/sspr.ts';

export const methodIds = ['email', 'mobilePhone', 'officePhone', 'authenticatorApp', 'securityQuestions'] as const;
export type MethodId = (typeof methodIds)[number];

export function isMethodId(value: unknown): value is MethodId {
  return typeof value === 'string' && (methodIds as readonly string[]).includes(value);
}

/** How each method is stored in sspr_methods (security questions live in their own table). */
export const storedKind: Record<Exclude<MethodId, 'securityQuestions'>, StoredMethodKind> = {
  email: 'email',
  mobilePhone: 'mobile_phone',
  officePhone: 'office_phone',
  authenticatorApp: 'authenticator_app',
};

export function methodOfKind(kind: StoredMethodKind): MethodId {
  return (Object.entries(storedKind).find(([, k]) => k === kind)?.[0] ?? 'email') as MethodId;
}
