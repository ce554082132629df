/**
 * Remembered devices: after a second factor, a user may have this device remembered for
 * `mfa.rememberDeviceDays`. The device keeps a random token (in a signed cookie set by the route);
 * the database keeps its SHA-256 with the user and the expiry, so a record can be revoked, belongs
 * to one user, and a stolen database gives no usable token. No HTTP here.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Store } from '../store/index.ts';
import type { Clock } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import { Service } from '../service.ts';

/** The cookie that carries the token (signed with the IdP's cookie keys). */
export { DEVICE_COOKIE } from '../oidc/policy.ts';

const DAY = 86_400_000;
const hash = (token: string) => createHash('sha256').update(token).digest('hex');
/** 32 random bytes, base64url: what a well-formed token looks like. */
const TOKEN = /^[A-Za-z0-9_-]{43}$/;

export type DeviceCheck = 'remembered' | 'none' | 'unknown' | 'expired' | 'other_user' | 'off';

export interface DeviceRequest {
  ip?: string;
  clientId?: string;
  flow?: string;
}

export class RememberedDevices extends Service<{ store: Store; clock: Clock; config: () => Config }> {
  /** Days a device may be remembered; 0 when the IdP doesn't offer it. */
  get days(): number {
    return this.deps.config().mfa.rememberDeviceDays;
  }

  /** Remembers this device for the user; returns the token for the cookie and its lifetime. */
  async remember(userId: string, request: DeviceRequest): Promise<{ token: string; maxAgeMs: number } | undefined> {
    const days = this.days;
    if (days === 0) return undefined;
    const now = this.deps.clock.now();
    const token = randomBytes(32).toString('base64url');
    await this.deps.store.mfaDevices.create(hash(token), userId, now, now + days * DAY);
    await this.#audit('mfa.device.remembered', 'info', userId, request, { days });
    return { token, maxAgeMs: days * DAY };
  }

  /**
   * Whether the token (from a cookie whose signature already checked out) is a live record of this
   * user's. A record of someone else, expired or unknown is refused (audited) and never honoured.
   */
  async check(token: string | undefined, userId: string, request: DeviceRequest): Promise<DeviceCheck> {
    if (this.days === 0) return 'off';
    if (token === undefined || token === '') return 'none';
    const now = this.deps.clock.now();
    const record = TOKEN.test(token) ? await this.deps.store.mfaDevices.find(hash(token)) : undefined;
    const verdict: DeviceCheck = !record ? 'unknown' : record.userId !== userId ? 'other_user' : record.expiresAt <= now ? 'expired' : 'remembered';
    if (verdict === 'remembered') {
      await this.deps.store.mfaDevices.used(hash(token), now);
      await this.#audit('mfa.device.used', 'success', userId, request, {});
    } else {
      await this.#audit('mfa.device.refused', 'failure', userId, request, { reason: verdict });
    }
    return verdict;
  }

  async #audit(type: string, outcome: 'success' | 'failure' | 'info', userId: string, request: DeviceRequest, details: Record<string, string | number>): Promise<void> {
    await this.deps.store.audit.record({ type, outcome, userId, ip: request.ip, clientId: request.clientId, flowId: request.flow, details }, this.deps.clock.now());
  }
}
