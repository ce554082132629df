/** Authenticator app: a TOTP secret shown as a QR code and as text; the first code confirms it. */
import type { RecoveryMethod, MethodDeps, MethodContext, MethodPage } from '../types.ts';
import { newTotpSecret, otpauthUri, qrSvg, verifyTotp, formatSecretForDisplay } from '../../security/totp.ts';

const PURPOSE = 'register:authenticator_app';

export function authenticatorAppMethod(deps: MethodDeps): RecoveryMethod {
  async function setupPage(ctx: MethodContext, sealed: string, error?: string): Promise<MethodPage> {
    const secret = deps.open(sealed);
    const uri = otpauthUri({ secret, account: ctx.user.username, issuer: deps.config().ui.organisation });
    return { view: 'methods/authenticator-app', locals: { qr: await qrSvg(uri), key: formatSecretForDisplay(secret) }, error };
  }

  async function fresh(ctx: MethodContext, error?: string): Promise<MethodPage> {
    await deps.store.sspr.voidChallenges(ctx.user.id, PURPOSE, deps.clock.now());
    const sealed = deps.seal(newTotpSecret());
    await deps.codes.hold(ctx.user.id, PURPOSE, sealed);
    return setupPage(ctx, sealed, error);
  }

  return {
    id: 'authenticatorApp',
    async begin(ctx) {
      // Reloading the page keeps the secret the user may already have scanned.
      const pending = await deps.codes.pending(ctx.user.id, PURPOSE);
      return pending ? setupPage(ctx, pending.pendingValue) : fresh(ctx);
    },
    async step(ctx, step, form) {
      if (step !== 'verify') return { kind: 'page', page: await fresh(ctx, 'error.bad_request') };
      const pending = await deps.codes.pending(ctx.user.id, PURPOSE);
      if (!pending) return { kind: 'page', page: await fresh(ctx, 'totp.expired') };
      const result = verifyTotp(deps.open(pending.pendingValue), (form.code ?? '').replace(/\s+/g, ''), deps.clock.now());
      if (!result.ok) {
        const attempts = await deps.store.sspr.addAttempt(pending.challengeId);
        if (attempts >= deps.config().sspr.codes.maxAttempts) return { kind: 'page', page: await fresh(ctx, 'totp.too_many_attempts') };
        return { kind: 'page', page: await setupPage(ctx, pending.pendingValue, 'totp.wrong') };
      }
      if (!(await deps.codes.consume(pending.challengeId))) return { kind: 'page', page: await fresh(ctx, 'totp.expired') };
      const previous = await deps.store.sspr.putMethod(ctx.user.id, 'authenticator_app', pending.pendingValue, deps.clock.now());
      // The step just accepted is used up here too: the same code can't then prove a reset.
      if (result.step !== undefined) await deps.store.reset.useTotpStep(ctx.user.id, result.step);
      return { kind: 'registered', change: previous === undefined ? 'added' : 'changed' };
    },
    summary(facts, t) {
      return facts.methods.some((m) => m.kind === 'authenticator_app') ? t('method.authenticatorApp.summary') : undefined;
    },
    remove(user) {
      return deps.store.sspr.deleteMethod(user.id, 'authenticator_app');
    },
  };
}
