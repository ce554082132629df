/** Office phone at reset: a call that reads out a code. */
import type { MethodDeps, ResetChallenge } from '../types.ts';
import { codeChallenge, phoneDelivery, valueOf } from '../code-challenge.ts';
import { maskPhone } from '../../delivery/mask.ts';

export function officePhoneChallenge(deps: MethodDeps): ResetChallenge {
  const code = codeChallenge(deps, 'officePhone', 'office_phone', phoneDelivery(deps, 'office_phone'));
  return {
    id: 'officePhone',
    label: (facts, t) => t('recover.method.officePhone', { number: maskPhone(valueOf(facts, 'office_phone') ?? '') }),
    start: code.start,
    step: code.step,
  };
}
