/** Remembered devices of multi-factor sign-in. Only a hash of the cookie's token is stored. */
import { Repository, type Row } from './repository.ts';

export interface MfaDevice {
  userId: string;
  createdAt: number;
  expiresAt: number;
}

export class MfaDeviceStore extends Repository {
  async create(idHash: string, userId: string, now: number, expiresAt: number): Promise<void> {
    await this.db('mfa_devices').insert({ id_hash: idHash, user_id: userId, created_at: now, expires_at: expiresAt });
  }

  /** The record, expired or not (the caller tells the two apart for the audit). */
  async find(idHash: string): Promise<MfaDevice | undefined> {
    const row = await this.db<Row>('mfa_devices').where({ id_hash: idHash }).first();
    return row ? { userId: String(row.user_id), createdAt: Number(row.created_at), expiresAt: Number(row.expires_at) } : undefined;
  }

  async used(idHash: string, now: number): Promise<void> {
    await this.db('mfa_devices').where({ id_hash: idHash }).update({ last_used_at: now });
  }




  async purgeExpired(now: number): Promise<number> {
    return this.db('mfa_devices').where('expires_at', '<=', now).delete();
  }
}
