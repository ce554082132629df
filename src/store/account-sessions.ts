/** Sessions of the security-info page. Only a hash of the cookie value is stored. */
import { Repository, type Row } from './repository.ts';

export interface AccountSession {
  userId: string;
  authenticatedAt: number;
  expiresAt: number;
}

export class AccountSessionStore extends Repository {
  async create(idHash: string, userId: string, now: number, expiresAt: number): Promise<void> {
    await this.db('account_sessions').insert({ id_hash: idHash, user_id: userId, authenticated_at: now, expires_at: expiresAt, created_at: now });
  }

  async find(idHash: string, now: number): Promise<AccountSession | undefined> {
    const row = await this.db<Row>('account_sessions').where({ id_hash: idHash }).andWhere('expires_at', '>', now).first();
    return row ? { userId: String(row.user_id), authenticatedAt: Number(row.authenticated_at), expiresAt: Number(row.expires_at) } : undefined;
  }

  async reauthenticated(idHash: string, now: number): Promise<void> {
    await this.db('account_sessions').where({ id_hash: idHash }).update({ authenticated_at: now });
  }

  async delete(idHash: string): Promise<void> {
    await this.db('account_sessions').where({ id_hash: idHash }).delete();
  }

  async deleteForUser(userId: string): Promise<number> {
    return this.db('account_sessions').where({ user_id: userId }).delete();
  }

  async purgeExpired(now: number): Promise<number> {
    return this.db('account_sessions').where('expires_at', '<=', now).delete();
  }
}
