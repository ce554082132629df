/** Sign-in, consent and cancel pages under /interaction/:uid: thin handlers over the services. */
import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import { AppError } from '../../errors.ts';
import { ACR_PASSWORD } from '../../mfa/policy.ts';
import type { Renderer } from '../../web/render.ts';
import type { LoginService } from './service.ts';
import type { PasskeySignIn } from '../../methods/passkey/sign-in.ts';
import type { InteractionKit, Interaction, PromptPage } from '../interaction.ts';

export interface LoginRouteDeps {
  kit: InteractionKit;
  login: LoginService;
  render: Renderer;
  /** Pages of the prompts other flows add (registration, reconfirmation). */
  promptPages?: Record<string, PromptPage>;
  /** "Sign in with a passkey", when passkeys are offered. */
  passkeys?: PasskeySignIn;
}

export function loginRoutes(deps: LoginRouteDeps): Router {
  const { kit, render, login } = deps;
  const { provider, csrf, basePath } = kit;
  const router = new Router();

  async function showLogin(ctx: Context, interaction: Interaction, username: string, failed: boolean, passkeyError?: string): Promise<void> {
    const passkey = deps.passkeys?.enabled() ? { action: kit.url(interaction.uid, 'passkey'), options: await deps.passkeys.options(interaction.uid), error: passkeyError } : undefined;
    await render(
      ctx,
      'login/login',
      {
        title: 'login.title',
        clientName: await kit.clientName(interaction),
        action: kit.url(interaction.uid, 'login'),
        abortAction: kit.url(interaction.uid, 'abort'),
        cantAccessUrl: `${basePath}/reset?return=${encodeURIComponent(kit.url(interaction.uid))}`,
        csrf: csrf.token(interaction.uid, 'login'),
        abortCsrf: csrf.token(interaction.uid, 'abort'),
        username,
        failed,
        passkey,
      },
      { uiLocales: kit.uiLocales(interaction), status: passkeyError ? 400 : 200 },
    );
  }

  async function showConsent(ctx: Context, interaction: Interaction): Promise<void> {
    const clientId = String(interaction.params.client_id);
    if (login.isFirstParty(clientId)) {
      return kit.finish(ctx, interaction, { consent: { grantId: await login.grantConsent(provider as Provider, interaction) } }, true);
    }
    const missing = interaction.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[] };
    return render(
      ctx,
      'login/consent',
      {
        title: 'consent.title',
        clientName: await kit.clientName(interaction),
        scopes: (missing.missingOIDCScope ?? []).filter((s) => login.knownScope(s)),
        claims: missing.missingOIDCClaims ?? [],
        action: kit.url(interaction.uid, 'confirm'),
        abortAction: kit.url(interaction.uid, 'abort'),
        csrf: csrf.token(interaction.uid, 'confirm'),
        abortCsrf: csrf.token(interaction.uid, 'abort'),
      },
      { uiLocales: kit.uiLocales(interaction) },
    );
  }

  const pages: Record<string, PromptPage> = {
    ...deps.promptPages,
    login: (ctx, interaction) => {
      const hint = typeof interaction.params.login_hint === 'string' ? interaction.params.login_hint.slice(0, 256) : '';
      return showLogin(ctx, interaction, hint, false);
    },
    consent: showConsent,
  };

  router.get('/interaction/:uid', async (ctx) => {
    const interaction = await kit.details(ctx);
    const page = pages[interaction.prompt.name];
    if (!page) throw new AppError('unknown_prompt', `prompt ${interaction.prompt.name}`);
    return page(ctx, interaction);
  });

  router.post('/interaction/:uid/login', async (ctx) => {
    const interaction = await kit.details(ctx);
    const body = await kit.form(ctx, interaction, 'login');
    kit.requirePrompt(interaction, 'login');
    const username = body.username ?? '';
    const outcome = await login.signIn(username, body.password ?? '', {
      clientId: String(interaction.params.client_id),
      ip: ctx.ip,
    });
    if (!outcome.ok) return showLogin(ctx, interaction, username.slice(0, 256), true);
    // The login time from the injected clock: the prompts that follow judge its age by that clock.
    return kit.finish(ctx, interaction, { login: { accountId: outcome.accountId, ts: Math.floor(kit.now() / 1000), acr: ACR_PASSWORD, amr: ['pwd'] } }, false);
  });

  router.post('/interaction/:uid/passkey', async (ctx) => {
    const interaction = await kit.details(ctx);
    const body = await kit.form(ctx, interaction, 'login');
    kit.requirePrompt(interaction, 'login');
    if (!deps.passkeys) throw new AppError('wrong_step', 'passkeys are not offered');
    const outcome = await deps.passkeys.signIn(interaction.uid, body.response, { ip: ctx.ip, clientId: String(interaction.params.client_id) });
    if (!outcome.ok) return showLogin(ctx, interaction, '', false, outcome.error);
    return kit.finish(ctx, interaction, { login: { accountId: outcome.accountId, ts: Math.floor(kit.now() / 1000), acr: outcome.acr, amr: outcome.amr } }, false);
  });

  router.post('/interaction/:uid/confirm', async (ctx) => {
    const interaction = await kit.details(ctx);
    await kit.form(ctx, interaction, 'confirm');
    kit.requirePrompt(interaction, 'consent');
    return kit.finish(ctx, interaction, { consent: { grantId: await login.grantConsent(provider as Provider, interaction) } }, true);
  });

  router.post('/interaction/:uid/abort', async (ctx) => {
    const interaction = await kit.details(ctx);
    await kit.form(ctx, interaction, 'abort');
    return kit.finish(ctx, interaction, { error: 'access_denied', error_description: 'End-User aborted interaction' }, false);
  });

  return router;
}
