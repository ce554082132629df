/**
 * Authenticator app codes (RFC 6238 TOTP with the parameters every app supports: SHA-1, 6 digits,
 * 30-second steps), provisioning URIs and QR codes. Verification accepts one step either side of
 * now and returns the step that matched, so callers can refuse a step already used (replay).
 */
import { timingSafeEqual } from 'node:crypto';
import { generateSecret, generateSync } from 'otplib';
import QRCode from 'qrcode';

export const TOTP_PERIOD_SECONDS = 30;
export const TOTP_DIGITS = 6;
/** Steps accepted either side of the current one (clock drift, typing time). */
export const TOTP_WINDOW = 1;

/** A new random secret: 20 bytes (160 bits, as RFC 4226 recommends), base32 without padding. */
export function newTotpSecret(): string {
  return generateSecret({ length: 20 });
}

/** The RFC 6238 time step containing `now` (ms). */
export function totpStep(now: number): number {
  return Math.floor(now / 1000 / TOTP_PERIOD_SECONDS);
}

/** The code of a time step (for tests and diagnostics). */
export function totpCodeAt(secret: string, step: number): string {
  return generateSync({ secret, epoch: step * TOTP_PERIOD_SECONDS, period: TOTP_PERIOD_SECONDS, digits: TOTP_DIGITS, algorithm: 'sha1' });
}

/**
 * Key URI for authenticator apps: otpauth://totp/Issuer:account?secret=…&issuer=…. The issuer and
 * account are percent-encoded (a colon in either would otherwise split the label wrongly).
 */
export function otpauthUri(input: { secret: string; account: string; issuer: string }): string {
  const label = `${encodeURIComponent(input.issuer)}:${encodeURIComponent(input.account)}`;
  const query = new URLSearchParams({
    secret: input.secret,
    issuer: input.issuer,
    algorithm: 'SHA1',
    digits: String(TOTP_DIGITS),
    period: String(TOTP_PERIOD_SECONDS),
  });
  // URLSearchParams encodes spaces as '+'; otpauth readers expect %20.
  return `otpauth://totp/${label}?${query.toString().replace(/\+/g, '%20')}`;
}

/**
 * The QR code of a URI as a `data:image/svg+xml;base64,…` URL, for an <img src> (the page CSP
 * allows img-src data:). No markup of ours reaches the page, so nothing needs escaping.
 */
export async function qrSvg(uri: string): Promise<string> {
  const svg = await QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
  return `data:image/svg+xml;base64,${Buffer.from(svg, 'utf8').toString('base64')}`;
}

/**
 * Checks a code typed by the user at time `now` (ms, from the injected clock). Accepts the current
 * step and one either side; with `afterStep` (the last step the user already used) steps up to and
 * including it are refused. Every candidate step is compared (constant time), whatever matched.
 * Malformed input is simply not ok.
 */
export function verifyTotp(secret: string, token: string, now: number, afterStep?: number): { ok: boolean; step?: number } {
  const input = typeof token === 'string' ? token.replace(/[\s-]+/g, '') : '';
  const wellFormed = input.length === TOTP_DIGITS && /^[0-9]+$/.test(input);
  const given = Buffer.from(wellFormed ? input : '0'.repeat(TOTP_DIGITS), 'utf8');
  const current = totpStep(now);
  let matched: number | undefined;
  for (let delta = -TOTP_WINDOW; delta <= TOTP_WINDOW; delta++) {
    const step = current + delta;
    const expected = Buffer.from(totpCodeAt(secret, step), 'utf8');
    const equal = expected.length === given.length && timingSafeEqual(expected, given);
    if (equal && wellFormed && (afterStep === undefined || step > afterStep)) matched = step;
  }
  return matched === undefined ? { ok: false } : { ok: true, step: matched };
}

/** The secret in groups of four for typing it in by hand: "ABCD EFGH …". */
export function formatSecretForDisplay(secret: string): string {
  return secret.replace(/\s+/g, '').replace(/(.{4})(?=.)/g, '$1 ');
}
