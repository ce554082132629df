/** Office phone: set by an administrator, called at reset. */
import { defineFacts } from '../define-facts.ts';

export const officePhoneFacts = defineFacts({
  id: 'officePhone',
  storedKind: 'office_phone',
  noun: 'the office phone',
  userManaged: false,
  secondFactor: { amr: 'tel', strength: 20 },
  offered: (methods) => methods.officePhone,
});
