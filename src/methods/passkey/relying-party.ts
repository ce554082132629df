/**
 * The WebAuthn relying party is the IdP's own origin: its ID is the host of `server.issuer`, the
 * one origin a response may come from is the issuer's. Browsers only offer WebAuthn in a secure
 * context, and never for an IP address: such an issuer can't have passkeys, and says so at start.
 */
import { isIP } from 'node:net';

export interface RelyingParty {
  id: string;
  origin: string;
}

export type RelyingPartyCheck = { ok: true; rp: RelyingParty } | { ok: false; problem: string };

export function relyingPartyOf(issuer: string): RelyingPartyCheck {
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    return { ok: false, problem: 'server.issuer is not a URL' };
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host)) return { ok: false, problem: `needs server.issuer on a domain name: browsers refuse passkeys for an IP address (${host})` };
  const local = host === 'localhost' || host.endsWith('.localhost');
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && local)) {
    return { ok: false, problem: `needs server.issuer on https (browsers offer passkeys only there, or on http://localhost), not ${url.origin}` };
  }
  return { ok: true, rp: { id: host, origin: url.origin } };
}
