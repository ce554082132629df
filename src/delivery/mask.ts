/**
 * Masked addresses, for logs and for showing users where a code went ("we sent a code to
 * j•••@example.org") without disclosing the address to whoever is at the keyboard.
 */
import { parsePhoneNumberFromString } from 'libphonenumber-js';

const DOT = '•';

/**
 * `jane.doe@example.org` → `j•••@example.org`: the first character of the local part, always three
 * dots (the length is not revealed) and the domain. Anything that is not an address becomes `•••`.
 */
export function maskEmail(address: string): string {
  const value = address.trim();
  const at = value.lastIndexOf('@');
  if (at < 1 || at === value.length - 1) return DOT.repeat(3);
  const first = Array.from(value.slice(0, at))[0] ?? '';
  return `${first}${DOT.repeat(3)}@${value.slice(at + 1).toLowerCase()}`;
}

/**
 * `+31612345678` → `+31 6 ••••••78`, `+12133734253` → `+1 2•• ••• ••53`: the number in international
 * format with every digit masked except the country calling code, the first digit of the national
 * number and the last two. National numbers shorter than six digits keep only the country code.
 * Input that cannot be parsed keeps only a leading `+` and its last two digits.
 */
export function maskPhone(number: string): string {
  const parsed = parsePhoneNumberFromString(number.trim());
  if (!parsed) {
    const digits = number.replace(/\D/g, '');
    if (digits.length < 6) return DOT.repeat(3);
    return `${number.trim().startsWith('+') ? '+' : ''}${DOT.repeat(digits.length - 2)}${digits.slice(-2)}`;
  }
  const formatted = parsed.formatInternational();
  const countryDigits = parsed.countryCallingCode.length;
  const national = parsed.nationalNumber.length;
  const keepEnds = national >= 6;
  let index = 0;
  let out = '';
  for (const ch of formatted) {
    if (ch < '0' || ch > '9') {
      out += ch;
      continue;
    }
    const n = index - countryDigits; // position within the national number, negative in the country code
    index += 1;
    const keep = n < 0 || (keepEnds && (n === 0 || (n >= national - 2 && n < national)));
    out += keep ? ch : DOT;
  }
  return out;
}
