/** Office phone: set by an administrator (CLI), shown read-only, called at reset. */
import type { RecoveryMethod, MethodDeps } from '../types.ts';
import { maskPhone } from '../../delivery/mask.ts';

export function officePhoneMethod(deps: MethodDeps): RecoveryMethod {
  return {
    id: 'officePhone',
    async begin(ctx) {
      const stored = (await deps.store.sspr.methods(ctx.user.id)).find((m) => m.kind === 'office_phone');
      return { view: 'methods/office-phone', locals: { masked: stored ? maskPhone(stored.value) : '' } };
    },
    async step() {
      return { kind: 'page', page: { view: 'methods/office-phone', locals: { masked: '' }, error: 'office_phone.admin_only', status: 403 } };
    },
    summary(facts) {
      const stored = facts.methods.find((m) => m.kind === 'office_phone');
      return stored ? maskPhone(stored.value) : undefined;
    },
    async remove() {
      return false;
    },
  };
}
