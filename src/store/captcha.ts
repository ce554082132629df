/** Used CAPTCHA solutions: a solved challenge is accepted once, by any instance (the primary key decides). */
import { Repository } from './repository.ts';

export class CaptchaStore extends Repository {
  /**
   * Records that the challenge with this signature was used; false when it already was (by this or
   * any other instance: of concurrent callers exactly one insert wins). `expiresAt` (ms) is when
   * the challenge itself expires, after which the row may be purged.
   */
  async markUsed(signature: string, expiresAt: number): Promise<boolean> {
    const rows = await this.db('captcha_solutions')
      .insert({ signature, expires_at: expiresAt })
      .onConflict('signature')
      .ignore()
      .returning('signature');
    return rows.length > 0;
  }

  /** Deletes the solutions of challenges that have expired (they are refused as expired anyway). */
  async purgeExpired(now: number): Promise<number> {
    return this.db('captcha_solutions').where('expires_at', '<=', now).delete();
  }
}
