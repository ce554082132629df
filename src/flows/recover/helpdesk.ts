/**
 * "Contact an administrator" from a refusal page: mails the helpdesk (`sspr.helpdesk.email`) or,
 * when that is empty, the members of the administrator groups (at most 100), naming the user, the
 * reason and the time. The mails go out in the background: a request never waits for SMTP, so a
 * real account is answered as fast as an unknown user id (for which nothing is sent). The
 * once-per-hour limit is kept by the caller (RecoveryService, in the shared database).
 */
import type { Logger } from 'pino';
import type { Store } from '../../store/index.ts';
import type { User } from '../../store/users.ts';
import type { Config } from '../../config/schema.ts';
import type { Clock } from '../../clock.ts';
import type { Translate } from '../../i18n/index.ts';
import type { MailDelivery } from '../../delivery/index.ts';
import type { RefusalReason } from './state.ts';
import { Service } from '../../service.ts';

export interface HelpRequest {
  user: User;
  reason: RefusalReason;
  t: Translate;
  ip?: string;
  /** The flow's reference in the audit trail. */
  flowId: string;
}

export class HelpdeskRequests extends Service<{ store: Store; config: () => Config; clock: Clock; mail: MailDelivery; log: Logger }> {
  readonly #pending = new Set<Promise<void>>();

  /** Starts sending the request and returns at once; failures are logged, the result audited. */
  send(request: HelpRequest): void {
    const at = this.deps.clock.now();
    const job: Promise<void> = this.#deliver(request, at)
      .catch((error: unknown) => {
        this.deps.log.error({ event: 'helpdesk.failed', userId: request.user.id, flowId: request.flowId, err: { message: (error as Error).message } }, 'helpdesk request not sent');
      })
      .finally(() => this.#pending.delete(job));
    this.#pending.add(job);
  }

  /** Resolves once every request sent so far is delivered or has failed (for shutdown and tests). */
  async settled(): Promise<void> {
    while (this.#pending.size) await Promise.allSettled([...this.#pending]);
  }

  async #deliver({ user, reason, t, ip, flowId }: HelpRequest, at: number): Promise<void> {
    const config = this.deps.config();
    const recipients = config.sspr.helpdesk.email.length
      ? config.sspr.helpdesk.email
      : await this.deps.store.reset.memberEmails(config.sspr.administrators.groups.map((g) => g.normalize('NFKC').toLowerCase()), 100);
    const subject = t('mail.helpdesk.subject', { username: user.username });
    const text = t('mail.helpdesk.body', { username: user.username, name: user.displayName || user.username, reason: t(`recover.reason.${reason}`), time: new Date(at).toISOString(), organisation: config.ui.organisation });
    let delivered = 0;
    for (const to of recipients) {
      try {
        await this.deps.mail.send({ to, subject, text, userId: user.id, kind: 'helpdesk.request' });
        delivered += 1;
      } catch (error) {
        this.deps.log.warn({ event: 'helpdesk.undelivered', userId: user.id, flowId, err: { message: (error as Error).message } }, 'helpdesk mail not delivered');
      }
    }
    if (recipients.length === 0) this.deps.log.warn({ event: 'helpdesk.no_recipients', userId: user.id, flowId }, 'contact an administrator: no sspr.helpdesk.email and no administrator with an email address');
    await this.deps.store.audit.record(
      { type: 'sspr.contact_admin', outcome: delivered > 0 ? 'success' : 'failure', userId: user.id, ip, flowId, details: { reason, recipients: recipients.length, delivered } },
      at,
    );
  }
}
