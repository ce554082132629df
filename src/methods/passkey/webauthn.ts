/**
 * The WebAuthn ceremonies, with @simplewebauthn/server: options with a challenge of our own
 * (random, single-use, short-lived, bound to the flow it was issued for, see PasskeyStore), and
 * the checks of what the browser sends back. User verification is always required. Every refusal
 * is audited with its reason and answered with a message id; nothing is changed by one. A
 * signature counter that does not move forward (a cloned authenticator) is refused and audited.
 */
import { createHash } from 'node:crypto';
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type RegistrationResponseJSON,
  type AuthenticatorTransport,
} from '@simplewebauthn/server';
import type { User } from '../../store/users.ts';
import type { StoredMethod } from '../../store/sspr.ts';
import type { MethodDeps } from '../types.ts';
import { relyingPartyOf, type RelyingParty } from './relying-party.ts';
import { Service } from '../../service.ts';

/** How long a browser has to answer a challenge. */
export const CHALLENGE_SECONDS = 300;
/** Passkeys one account may hold. */
export const MAX_PASSKEYS = 10;
const MAX_RESPONSE_CHARS = 16_384;
const MAX_LABEL = 64;

/** A passkey as sspr_methods keeps it (its value, as JSON). */
export interface PasskeyCredential {
  credentialId: string;
  /** COSE public key, base64url. */
  publicKey: string;
  counter: number;
  transports: string[];
  /** May be synced to other devices (a multi-device credential). */
  backupEligible: boolean;
  backedUp: boolean;
  lastUsedAt: number | null;
}

export interface PasskeySummary {
  slot: string;
  label: string;
  createdAt: number;
  lastUsedAt: number | null;
  synced: boolean;
}

export interface PasskeyRequest {
  ip?: string;
  clientId?: string;
  flowId?: string;
}

export type Refusal = { ok: false; error: string; reason: string };
export type Authenticated = { ok: true; userId: string; slot: string; amr: 'hwk' | 'swk' };

/** Its slot in sspr_methods: a hash of the credential id (ids may be longer than a slot). */
export const slotOf = (credentialId: string) => createHash('sha256').update(credentialId).digest('base64url');
const userHandleOf = (userId: string) => Buffer.from(userId, 'utf8').toString('base64url');

export function parseCredential(value: string): PasskeyCredential {
  return JSON.parse(value) as PasskeyCredential;
}

export function passkeysOf(methods: readonly StoredMethod[]): (StoredMethod & { credential: PasskeyCredential })[] {
  return methods.filter((m) => m.kind === 'passkey' && m.verifiedAt !== null).map((m) => ({ ...m, credential: parseCredential(m.value) }));
}

/** A label as typed: trimmed, control characters dropped, at most 64 characters. */
export function cleanLabel(raw: string | undefined): string {
  // eslint-disable-next-line no-control-regex
  return (raw ?? '').replace(/[\u0000-\u001f\u007f]/g, '').trim().slice(0, MAX_LABEL);
}

/** The JSON an options object is embedded in a page as, safe inside <script type="application/json">. */
export const embed = (options: unknown) => JSON.stringify(options).replace(/</g, '\\u003c');

type Parsed<T> = { ok: true; response: T; challenge: string } | { ok: false };

/** The browser's answer, if it has the shape of one, with the challenge its client data names. */
function parse<T extends { id: string }>(raw: string | undefined): Parsed<T> {
  if (!raw || raw.length > MAX_RESPONSE_CHARS) return { ok: false };
  try {
    const value = JSON.parse(raw) as { id?: unknown; rawId?: unknown; type?: unknown; response?: { clientDataJSON?: unknown } };
    if (typeof value?.id !== 'string' || !value.id || typeof value.rawId !== 'string' || value.type !== 'public-key') return { ok: false };
    if (typeof value.response?.clientDataJSON !== 'string') return { ok: false };
    const client = JSON.parse(Buffer.from(value.response.clientDataJSON, 'base64url').toString('utf8')) as { challenge?: unknown };
    if (typeof client?.challenge !== 'string' || !client.challenge || client.challenge.length > 128) return { ok: false };
    return { ok: true, response: value as unknown as T, challenge: client.challenge };
  } catch {
    return { ok: false };
  }
}

export class Passkeys extends Service<MethodDeps> {

  /** From server.issuer; the configuration check makes sure there is one when passkeys are offered. */
  rp(): RelyingParty {
    const checked = relyingPartyOf(this.deps.config().server.issuer);
    if (!checked.ok) throw new Error(`passkeys: ${checked.problem}`);
    return checked.rp;
  }

  async #issue(challenge: string, binding: string, userId: string | null): Promise<void> {
    const now = this.deps.clock.now();
    await this.deps.store.passkeys.issue(challenge, binding, userId, now, now + CHALLENGE_SECONDS * 1000);
  }

  async registrationOptions(user: User, binding: string, existing: readonly StoredMethod[]) {
    const options = await generateRegistrationOptions({
      rpName: this.deps.config().ui.organisation,
      rpID: this.rp().id,
      userName: user.username,
      userID: Buffer.from(user.id, 'utf8'),
      userDisplayName: user.displayName || user.username,
      attestationType: 'none',
      timeout: CHALLENGE_SECONDS * 1000,
      excludeCredentials: passkeysOf(existing).map((p) => ({ id: p.credential.credentialId, transports: p.credential.transports as AuthenticatorTransport[] })),
      authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
    });
    await this.#issue(options.challenge, binding, user.id);
    return options;
  }

  /** Options for signing in: without `user` any passkey of this site (discoverable), else one of the user's. */
  async authenticationOptions(binding: string, user?: User, existing: readonly StoredMethod[] = []) {
    const options = await generateAuthenticationOptions({
      rpID: this.rp().id,
      userVerification: 'required',
      timeout: CHALLENGE_SECONDS * 1000,
      allowCredentials: user ? passkeysOf(existing).map((p) => ({ id: p.credential.credentialId, transports: p.credential.transports as AuthenticatorTransport[] })) : [],
    });
    await this.#issue(options.challenge, binding, user?.id ?? null);
    return options;
  }

  /** Checks a new passkey's answer and stores the passkey with its label. */
  async register(user: User, binding: string, raw: string | undefined, label: string, request: PasskeyRequest): Promise<{ ok: true; slot: string } | Refusal> {
    const parsed = parse<RegistrationResponseJSON>(raw);
    if (!parsed.ok) return this.#refuse('register', user.id, 'malformed', request);
    const taken = await this.#take(parsed.challenge, binding, user.id, 'register', request);
    if (!taken.ok) return taken;
    const rp = this.rp();
    let info;
    try {
      const verified = await verifyRegistrationResponse({ response: parsed.response, expectedChallenge: parsed.challenge, expectedOrigin: rp.origin, expectedRPID: rp.id, requireUserVerification: true });
      if (!verified.verified) return this.#refuse('register', user.id, 'not_verified', request);
      info = verified.registrationInfo;
    } catch (error) {
      return this.#refuse('register', user.id, 'not_verified', request, (error as Error).message);
    }
    const slot = slotOf(info.credential.id);
    if (await this.deps.store.passkeys.find(slot)) return this.#refuse('register', user.id, 'already_registered', request);
    const count = passkeysOf(await this.deps.store.sspr.methods(user.id)).length;
    if (count >= MAX_PASSKEYS) return this.#refuse('register', user.id, 'too_many', request);
    const credential: PasskeyCredential = {
      credentialId: info.credential.id,
      publicKey: Buffer.from(info.credential.publicKey).toString('base64url'),
      counter: info.credential.counter,
      transports: info.credential.transports ?? [],
      backupEligible: info.credentialDeviceType === 'multiDevice',
      backedUp: info.credentialBackedUp,
      lastUsedAt: null,
    };
    try {
      await this.deps.store.sspr.putMethod(user.id, 'passkey', JSON.stringify(credential), this.deps.clock.now(), { slot, label: label || `Passkey ${count + 1}` });
    } catch {
      // The unique index: the same credential registered at the same moment elsewhere.
      return this.#refuse('register', user.id, 'already_registered', request);
    }
    return { ok: true, slot };
  }

  /**
   * Checks a sign-in answer: the challenge issued for `binding`, a passkey we know (of `expected`
   * when given), its signature, user verification, and a counter that moved forward. The counter
   * and the last use are stored only if nobody used the passkey meanwhile.
   */
  async authenticate(binding: string, raw: string | undefined, expected: User | undefined, request: PasskeyRequest): Promise<Authenticated | Refusal> {
    const parsed = parse<AuthenticationResponseJSON>(raw);
    if (!parsed.ok) return this.#refuse('authenticate', expected?.id, 'malformed', request);
    const taken = await this.#take(parsed.challenge, binding, expected?.id ?? null, 'authenticate', request);
    if (!taken.ok) return taken;
    const stored = await this.deps.store.passkeys.find(slotOf(parsed.response.id));
    if (!stored) return this.#refuse('authenticate', expected?.id, 'unknown_credential', request);
    const handle = parsed.response.response?.userHandle;
    if ((expected && stored.userId !== expected.id) || (handle && handle !== userHandleOf(stored.userId))) {
      return this.#refuse('authenticate', expected?.id ?? stored.userId, 'other_user', request);
    }
    const credential = parseCredential(stored.value);
    const rp = this.rp();
    let info;
    try {
      // The counter is compared below, where a clone can be told apart from a bad signature.
      const verified = await verifyAuthenticationResponse({
        response: parsed.response,
        expectedChallenge: parsed.challenge,
        expectedOrigin: rp.origin,
        expectedRPID: rp.id,
        credential: { id: credential.credentialId, publicKey: Buffer.from(credential.publicKey, 'base64url'), counter: 0, transports: credential.transports as AuthenticatorTransport[] },
        requireUserVerification: true,
      });
      if (!verified.verified || !verified.authenticationInfo.userVerified) return this.#refuse('authenticate', stored.userId, 'not_verified', request);
      info = verified.authenticationInfo;
    } catch (error) {
      return this.#refuse('authenticate', stored.userId, 'not_verified', request, (error as Error).message);
    }
    if ((info.newCounter > 0 || credential.counter > 0) && info.newCounter <= credential.counter) {
      await this.#audit('passkey.clone_suspected', stored.userId, request, { stored: credential.counter, received: info.newCounter, passkey: stored.slot.slice(0, 12) });
      return this.#refuse('authenticate', stored.userId, 'counter_not_increased', request, undefined, 'passkey.refused');
    }
    const now = this.deps.clock.now();
    const next: PasskeyCredential = { ...credential, counter: info.newCounter, backedUp: info.credentialBackedUp, lastUsedAt: now };
    if (!(await this.deps.store.passkeys.replace(stored.id, stored.value, JSON.stringify(next), now))) {
      return this.#refuse('authenticate', stored.userId, 'used_concurrently', request);
    }
    return { ok: true, userId: stored.userId, slot: stored.slot, amr: credential.backupEligible ? 'swk' : 'hwk' };
  }

  async #take(challenge: string, binding: string, userId: string | null, ceremony: string, request: PasskeyRequest): Promise<{ ok: true } | Refusal> {
    const taken = await this.deps.store.passkeys.take(challenge, binding, this.deps.clock.now());
    if (!taken.ok) return this.#refuse(ceremony, userId ?? undefined, `challenge_${taken.reason}`, request, undefined, taken.reason === 'expired' ? 'passkey.expired' : undefined);
    if (userId !== null && taken.userId !== null && taken.userId !== userId) return this.#refuse(ceremony, userId, 'challenge_other_user', request);
    return { ok: true };
  }

  async #refuse(ceremony: string, userId: string | undefined, reason: string, request: PasskeyRequest, detail?: string, error = 'passkey.failed'): Promise<Refusal> {
    await this.#audit(`passkey.${ceremony}.refused`, userId, request, { reason, ...(detail ? { detail: detail.slice(0, 200) } : {}) });
    return { ok: false, error, reason };
  }

  async #audit(type: string, userId: string | undefined, request: PasskeyRequest, details: Record<string, string | number>): Promise<void> {
    await this.deps.store.audit.record(
      { type, outcome: 'failure', userId: userId ?? null, clientId: request.clientId, ip: request.ip, flowId: request.flowId, details },
      this.deps.clock.now(),
    );
  }
}

/** What a page lists of the user's passkeys. */
export function summaries(methods: readonly StoredMethod[]): PasskeySummary[] {
  return passkeysOf(methods).map((p) => ({ slot: p.slot, label: p.label ?? '', createdAt: p.createdAt, lastUsedAt: p.credential.lastUsedAt, synced: p.credential.backupEligible }));
}
