/**
 * What follows a reset by mail, best effort: the user's addresses are told, and the other
 * administrators when an administrator reset (`sspr.notifications`). A failed delivery is logged,
 * never the reset's failure. No HTTP here.
 */
import type { Logger } from 'pino';
import type { Store } from '../../store/index.ts';
import type { User } from '../../store/users.ts';
import type { Config } from '../../config/schema.ts';
import type { Translate } from '../../i18n/index.ts';
import type { MailDelivery } from '../../delivery/index.ts';
import type { StandingService } from '../../sspr/standing.ts';
import { Service } from '../../service.ts';

export class ResetNotices extends Service<{ store: Store; config: () => Config; standing: StandingService; mail: MailDelivery; log: Logger }> {
  /** The user's addresses, and the other administrators when an administrator reset. */
  async passwordReset(user: User, t: Translate): Promise<void> {
    const config = this.deps.config();
    const organisation = config.ui.organisation;
    const send = async (to: string, subject: string, text: string, kind: string) => {
      try {
        await this.deps.mail.send({ to, subject, text, userId: user.id, kind });
      } catch (error) {
        this.deps.log.warn({ event: 'notify.failed', kind, userId: user.id, err: { message: (error as Error).message } }, 'reset notification not delivered');
      }
    };
    const facts = await this.deps.standing.facts(user.id);
    if (config.sspr.notifications.userOnReset) {
      const addresses = new Set([user.email, facts.methods.find((m) => m.kind === 'email')?.value].filter((a): a is string => Boolean(a)));
      for (const to of addresses) await send(to, t('mail.reset_done.subject', { organisation }), t('mail.reset_done.body', { organisation, username: user.username }), 'notify.reset');
    }
    if (this.deps.standing.evaluate(facts).isAdmin && config.sspr.notifications.adminsOnAdminReset) {
      const admins = await this.deps.store.reset.memberEmails(config.sspr.administrators.groups.map((g) => g.normalize('NFKC').toLowerCase()), 100, user.id);
      for (const to of admins) await send(to, t('mail.admin_reset.subject', { organisation }), t('mail.admin_reset.body', { organisation, username: user.username }), 'notify.admin_reset');
    }
  }
}
