/**
 * The interaction policy: oidc-provider's login and consent prompts. Later prompts (SSPR
 * registration, reconfirmation) are added here, after login and before consent.
 */
import { interactionPolicy } from 'oidc-provider';

export function createInteractionPolicy(): interactionPolicy.DefaultPolicy {
  return interactionPolicy.base();
}
