/** The SSPR settings most test beds start from, so each bed names only what it is about. */
import type { ConfigInput } from '../../src/config/schema.ts';
import { methodIds, type MethodId } from '../../src/methods/ids.ts';

export type SsprInput = NonNullable<ConfigInput['sspr']>;

/**
 * Everyone in scope, one method required, registration on sign-in, no CAPTCHA and codes that may
 * be resent at once; exactly the methods `on` offered (every other one off). `settings` overrides.
 */
export function ssprWith(on: readonly MethodId[], settings: Omit<SsprInput, 'methods'> = {}): SsprInput {
  return {
    enabled: 'all',
    methodsRequired: 1,
    registration: { requireOnSignIn: true },
    captcha: { enabled: false },
    codes: { resendAfterSeconds: 0 },
    ...settings,
    methods: Object.fromEntries(methodIds.map((id) => [id, on.includes(id)])),
  };
}
