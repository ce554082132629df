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
    return this.#send(user, recipients, t('mail.changed.subject', { organisation }), t(`mail.changed.body.${change}`, { method: methodName, organisation, username: user.username }), `notify.method.${change}`);
  }

  /**
   * An administrator reset the password (`users set-password`): the same notice as after a
   * self-service reset, to the directory address and the registered authentication email.
   */
  async passwordReset(user: User, t: Translate, authenticationEmail?: string): Promise<{ notified: string[]; failed: string[] }> {
    const recipients = new Set([user.email, authenticationEmail].filter((a): a is string => Boolean(a)));
    const organisation = this.#organisation();
    return this.#send(user, recipients, t('mail.reset_done.subject', { organisation }), t('mail.reset_done.body', { organisation, username: user.username }), 'notify.reset');
  }

  /** Best effort, each address on its own: a failure is logged and reported, never thrown. */
  async #send(user: User, recipients: Set<string>, subject: string, text: string, kind: string): Promise<{ notified: string[]; failed: string[] }> {
    const notified: string[] = [];
    const failed: string[] = [];
    for (const to of recipients) {
      try {
        await this.#mail.send({ to, subject, text, userId: user.id, kind });
        notified.push(to);
      } catch (error) {
        failed.push(to);
        this.#log.warn({ event: 'notify.failed', userId: user.id, kind, err: { message: (error as Error).message } }, 'change notification not delivered');
      }
    }
    return { notified, failed };
  }
}
