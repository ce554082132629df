/**
 * A method's facts as its folder states them: only what sets it apart. The rest is what most
 * methods are: enough on its own, allowed for administrators, a value listings may show, one per
 * user, managed by the user.
 */
import type { MethodFacts } from './types.ts';

const USUAL = { countsAlone: true, allowedForAdmins: true, secretValue: false, severalPerUser: false, userManaged: true } as const;

type Stated = Partial<MethodFacts> & Pick<MethodFacts, 'id' | 'noun' | 'offered'>;

export function defineFacts<const F extends Stated>(facts: F): Omit<typeof USUAL, keyof F> & F {
  return { ...USUAL, ...facts };
}
