/**
 * Multi-factor sign-in: the authentication levels relying parties can ask for (acr), who must
 * reach the multi-factor level, and which of a user's registered methods can prove it. Pure.
 */
import type { Config } from '../config/schema.ts';
import { intersects, type UserFacts } from '../sspr/policy.ts';
import { methodList, type MethodId } from '../methods/ids.ts';

/** A password (or any single factor). */
export const ACR_PASSWORD = 'single-factor';
/** A password and a second factor. */
export const ACR_MFA = 'multi-factor';
/** Published in discovery as acr_values_supported, weakest first. */
export const ACR_VALUES = [ACR_PASSWORD, ACR_MFA] as const;

/** Whether the policy makes this user prove a second factor at every sign-in. */
export function mfaRequired(config: Config, groups: readonly string[]): boolean {
  const { require } = config.mfa;
  if (require === 'all') return true;
  if (require === 'never') return false;
  return intersects(groups, config.mfa.groups) || intersects(groups, config.sspr.administrators.groups);
}

export interface SecondFactor {
  id: MethodId;
  strength: number;
}

/** The user's registered methods that count as a second factor, strongest first. */
export function secondFactors(config: Config, facts: UserFacts): SecondFactor[] {
  const allowed = new Set<string>(config.mfa.methods);
  const verified = new Set(facts.methods.filter((m) => m.verifiedAt !== null).map((m) => m.kind));
  return methodList
    .flatMap((m) => ('secondFactor' in m && allowed.has(m.id) && verified.has(m.storedKind) ? [{ id: m.id as MethodId, strength: m.secondFactor.strength }] : []))
    .sort((a, b) => b.strength - a.strength);
}

/** The level an authorization request asks for: the strongest known value of acr_values; undefined when it names none. */
export function requestedAcr(acrValues: unknown): { acr?: string; unknown: boolean } {
  if (typeof acrValues !== 'string' || acrValues.trim() === '') return { unknown: false };
  const asked = acrValues.trim().split(/\s+/);
  const known = ACR_VALUES.filter((v) => asked.includes(v));
  return { acr: known.at(-1), unknown: known.length === 0 };
}
