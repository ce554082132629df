/** Tells users by email when their recovery methods change (to the directory address and the old one). */
import type { Logger } from 'pino';
import type { MailDelivery } from '../delivery/index.ts';
import type { User } from '../store/users.ts';
import type { Translate } from '../i18n/index.ts';
import type { MethodId } from '../methods/ids.ts';
import { normaliseEmail } from '../users/names.ts';

export type MethodChange = 'added' | 'changed' | 'removed';

export class ChangeNotifier {
  readonly #mail: MailDelivery;
  readonly #log: Logger;
  readonly #organisation: () => string;

  constructor(mail: MailDelivery, log: Logger, organisation: () => string) {
    this.#mail = mail;
    this.#log = log;
    this.#organisation = organisation;
  }

  /**
   * Best effort: a failed notification is logged, never undoes the change. Returns the addresses
   * the notice went to and those it could not be delivered to.
   */
  async methodChanged(user: User, method: MethodId, change: MethodChange, t: Translate, previousAddress?: string): Promise<{ notified: string[]; failed: string[] }> {
    const notified: string[] = [];
    const failed: string[] = [];
    const recipients = new Set<string>();
    if (user.email) recipients.add(user.email);
    if (method === 'email' && previousAddress) {
      try {
        recipients.add(normaliseEmail(previousAddress));
      } catch {
        // An old value that isn't an address gets no mail.
      }
    }
    const organisation = this.#organisation();
    const methodName = t(`method.${method}.name`);
    for (const to of recipients) {
      try {
        await this.#mail.send({
          to,
          subject: t('mail.changed.subject', { organisation }),
          text: t(`mail.changed.body.${change}`, { method: methodName, organisation, username: user.username }),
          userId: user.id,
          kind: `notify.method.${change}`,
        });
        notified.push(to);
      } catch (error) {
        failed.push(to);
        this.#log.warn({ event: 'notify.failed', userId: user.id, method, err: { message: (error as Error).message } }, 'change notification not delivered');
      }
    }
    return { notified, failed };
  }
}
