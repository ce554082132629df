/** Sign-in, consent and cancel pages under /interaction/:uid: thin handlers over the services. */
import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { errors } from 'oidc-provider';
import { AppError, badRequest } from '../../errors.ts';
import { readForm, type Form } from '../../security/form.ts';
import type { Csrf } from '../../security/csrf.ts';
import type { Renderer } from '../../web/render.ts';
import type { LoginService } from './service.ts';

type Interaction = Awaited<ReturnType<Provider['interactionDetails']>>;

export interface LoginRouteDeps {
  provider: Provider;
  login: LoginService;
  csrf: Csrf;
  render: Renderer;
  basePath: string;
  bodyLimitKb: () => number;
}

const sessionExpired = () => new AppError('session_expired', 400, 'error.session_expired');

export function loginRoutes(deps: LoginRouteDeps): Router {
  const { provider, csrf, render, basePath } = deps;
  const router = new Router();
  const url = (uid: string, action = '') => `${basePath}/interaction/${uid}${action ? `/${action}` : ''}`;

  async function details(ctx: Context): Promise<Interaction> {
    let interaction: Interaction;
    try {
      interaction = await provider.interactionDetails(ctx.req, ctx.res);
    } catch (error) {
      if (error instanceof errors.SessionNotFound) throw sessionExpired();
      throw error;
    }
    if (interaction.uid !== ctx.params.uid) throw sessionExpired();
    return interaction;
  }

  async function form(ctx: Context, interaction: Interaction, purpose: string): Promise<Form> {
    const body = await readForm(ctx, deps.bodyLimitKb());
    if (!csrf.verify(interaction.uid, purpose, body.csrf)) throw new AppError('csrf_invalid', 403, 'error.csrf');
    return body;
  }

  function requirePrompt(interaction: Interaction, name: string): void {
    if (interaction.prompt.name !== name) throw badRequest('wrong_step', 'error.bad_request', `expected prompt ${name}`);
  }

  async function finish(ctx: Context, result: Parameters<Provider['interactionResult']>[2], merge: boolean): Promise<void> {
    const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: merge });
    ctx.status = 303;
    ctx.redirect(returnTo);
  }

  async function clientName(interaction: Interaction): Promise<string> {
    const client = await provider.Client.find(String(interaction.params.client_id));
    return client?.clientName ?? client?.clientId ?? '';
  }

  async function showLogin(ctx: Context, interaction: Interaction, username: string, failed: boolean): Promise<void> {
    await render(
      ctx,
      'login/login',
      {
        title: 'login.title',
        clientName: await clientName(interaction),
        action: url(interaction.uid, 'login'),
        abortAction: url(interaction.uid, 'abort'),
        cantAccessUrl: `${basePath}/reset?return=${encodeURIComponent(url(interaction.uid))}`,
        csrf: csrf.token(interaction.uid, 'login'),
        abortCsrf: csrf.token(interaction.uid, 'abort'),
        username,
        failed,
      },
      { uiLocales: interaction.params.ui_locales as string | undefined },
    );
  }

  router.get('/interaction/:uid', async (ctx) => {
    const interaction = await details(ctx);
    const { name } = interaction.prompt;
    if (name === 'login') {
      const hint = typeof interaction.params.login_hint === 'string' ? interaction.params.login_hint.slice(0, 256) : '';
      return showLogin(ctx, interaction, hint, false);
    }
    if (name === 'consent') {
      const clientId = String(interaction.params.client_id);
      if (deps.login.isFirstParty(clientId)) {
        return finish(ctx, { consent: { grantId: await deps.login.grantConsent(provider, interaction) } }, true);
      }
      const missing = interaction.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[] };
      return render(
        ctx,
        'login/consent',
        {
          title: 'consent.title',
          clientName: await clientName(interaction),
          scopes: (missing.missingOIDCScope ?? []).filter((s) => deps.login.knownScope(s)),
          claims: missing.missingOIDCClaims ?? [],
          action: url(interaction.uid, 'confirm'),
          abortAction: url(interaction.uid, 'abort'),
          csrf: csrf.token(interaction.uid, 'confirm'),
          abortCsrf: csrf.token(interaction.uid, 'abort'),
        },
        { uiLocales: interaction.params.ui_locales as string | undefined },
      );
    }
    throw badRequest('unknown_prompt', 'error.bad_request', `prompt ${name}`);
  });

  router.post('/interaction/:uid/login', async (ctx) => {
    const interaction = await details(ctx);
    const body = await form(ctx, interaction, 'login');
    requirePrompt(interaction, 'login');
    const username = body.username ?? '';
    const outcome = await deps.login.signIn(username, body.password ?? '', {
      clientId: String(interaction.params.client_id),
      ip: ctx.ip,
    });
    if (!outcome.ok) return showLogin(ctx, interaction, username.slice(0, 256), true);
    return finish(ctx, { login: { accountId: outcome.accountId } }, false);
  });

  router.post('/interaction/:uid/confirm', async (ctx) => {
    const interaction = await details(ctx);
    await form(ctx, interaction, 'confirm');
    requirePrompt(interaction, 'consent');
    return finish(ctx, { consent: { grantId: await deps.login.grantConsent(provider, interaction) } }, true);
  });

  router.post('/interaction/:uid/abort', async (ctx) => {
    const interaction = await details(ctx);
    await form(ctx, interaction, 'abort');
    return finish(ctx, { error: 'access_denied', error_description: 'End-User aborted interaction' }, false);
  });

  return router;
}

export type { KoaContextWithOIDC };
