/** What the administrator commands tell users by email, and what they say on stdout about it. */
import type { Store, User } from '../store/index.ts';
import type { Config } from '../config/schema.ts';
import type { MethodId } from '../methods/ids.ts';
import type { ChangeNotifier, MethodChange } from '../sspr/notify.ts';
import type { Translate } from '../i18n/index.ts';
import { systemClock } from '../clock.ts';
import type { CommandContext } from './context.ts';

type Notice = (notifier: ChangeNotifier, t: Translate) => Promise<{ notified: string[]; failed: string[] }>;

/** Sends one notice by the configured mail transport and says on stdout whom it told. */
async function notifyUser(ctx: CommandContext, store: Store, config: Config, user: User, notice: Notice): Promise<void> {
  const [{ createMailDelivery, maskEmail }, { ChangeNotifier }, { translator }, { createLogger }] = await Promise.all([
    import('../delivery/index.ts'),
    import('../sspr/notify.ts'),
    import('../i18n/index.ts'),
    import('../logging.ts'),
  ]);
  // Logs go to stderr: stdout carries the command's own output.
  const log = createLogger(config.logging.level, process.stderr);
  const mail = createMailDelivery({ config: () => config.delivery.mail, outbox: store.outbox, log, clock: systemClock });
  try {
    const notifier = new ChangeNotifier(mail, log, () => config.ui.organisation);
    const { notified, failed } = await notice(notifier, translator(config.ui.defaultLocale));
    for (const to of notified) ctx.out(`notified ${user.username} at ${maskEmail(to)}`);
    for (const to of failed) ctx.out(`could not notify ${user.username} at ${maskEmail(to)}: the email was not delivered`);
  } finally {
    await mail.close();
  }
}

/**
 * Tells a user by email that an administrator changed one of their recovery methods (as the
 * security-info page does for their own changes), and says on stdout whom it told.
 */
export async function notifyMethodChange(ctx: CommandContext, store: Store, config: Config, user: User, method: MethodId, change: MethodChange): Promise<void> {
  if (!user.email) return ctx.out(`${user.username} has no email address: not notified`);
  await notifyUser(ctx, store, config, user, (notifier, t) => notifier.methodChanged(user, method, change, t));
}

/** After `users set-password`: the notice a self-service reset sends, when sspr.notifications.userOnReset is on. */
export async function notifyPasswordReset(ctx: CommandContext, store: Store, config: Config, user: User): Promise<void> {
  if (!config.sspr.notifications.userOnReset) return;
  const authenticationEmail = (await store.sspr.methods(user.id)).find((m) => m.kind === 'email')?.value;
  if (!user.email && !authenticationEmail) return ctx.out(`${user.username} has no email address: not notified`);
  await notifyUser(ctx, store, config, user, (notifier, t) => notifier.passwordReset(user, t, authenticationEmail));
}
