/**
 * The registration interrupt and the reconfirmation page, as oidc-provider prompts
 * `sspr_register` and `sspr_reconfirm` under /interaction/:uid. Thin handlers over
 * RegistrationService; each method's own pages under /interaction/:uid/methods/:method.
 * Adding, changing or removing a method needs a recent authentication (ReauthService): after
 * SSO or a long pause the password is asked for first. "Looks good", finish and skip don't.
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import type { Renderer } from '../../web/render.ts';
import { renderMethodPage } from '../../web/method-page.ts';
import { refusals } from '../../web/route-kit.ts';
import type { MessageId } from '../../i18n/index.ts';
import { MFA_PROMPT } from '../../oidc/policy.ts';
import type { UserService } from '../../users/service.ts';
import type { MethodPage } from '../../methods/types.ts';
import { enabledAccount, type InteractionKit, type Interaction, type PromptPage } from '../interaction.ts';
import type { RegistrationService, RequestInfo } from './service.ts';
import type { ReauthService } from './reauth.ts';
import type { User } from '../../store/users.ts';

export const REGISTER_PROMPT = 'sspr_register';
export const RECONFIRM_PROMPT = 'sspr_reconfirm';
// The second-factor prompt sends a user who has none to these method pages to set one up.
const PROMPTS = [REGISTER_PROMPT, RECONFIRM_PROMPT, MFA_PROMPT];
/** One CSRF purpose for every registration form of a flow. */
const PURPOSE = 'register';

export interface RegisterRouteDeps {
  kit: InteractionKit;
  registration: RegistrationService;
  reauth: ReauthService;
  users: UserService;
  render: Renderer;
}

export function registerRoutes(deps: RegisterRouteDeps): { router: Router; promptPages: Record<string, PromptPage> } {
  const { kit, registration, reauth, render } = deps;
  const router = new Router();

  const t = (ctx: Context, interaction: Interaction) => kit.language(ctx, interaction).t;
  const info = (ctx: Context, interaction: Interaction): RequestInfo => ({ ip: ctx.ip, clientId: String(interaction.params.client_id), flowId: interaction.uid });
  const userOf = (interaction: Interaction) => enabledAccount(deps.users, interaction);

  async function showOverview(ctx: Context, interaction: Interaction, error?: MessageId, status = 200): Promise<void> {
    const user = await userOf(interaction);
    const translate = t(ctx, interaction);
    const overview = await registration.overview(user, translate);
    const reconfirm = interaction.prompt.name === RECONFIRM_PROMPT;
    await render(
      ctx,
      reconfirm ? 'register/reconfirm' : 'register/overview',
      {
        title: reconfirm ? 'reconfirm.title' : 'register.title',
        clientName: await kit.clientName(interaction),
        overview,
        methodUrl: (id: string) => kit.url(interaction.uid, 'methods', id),
        removeAction: (id: string) => kit.url(interaction.uid, 'methods', id, 'remove'),
        finishAction: kit.url(interaction.uid, reconfirm ? 'reconfirm' : 'finish'),
        skipAction: kit.url(interaction.uid, 'skip'),
        abortAction: kit.url(interaction.uid, 'abort'),
        csrf: kit.csrf.token(interaction.uid, PURPOSE),
        abortCsrf: kit.csrf.token(interaction.uid, 'abort'),
        error,
      },
      { uiLocales: kit.uiLocales(interaction), status },
    );
  }

  /** Runs a change; when it is refused (409: too few methods, no skips left) the overview says why. */
  async function orOverview(ctx: Context, interaction: Interaction, change: () => Promise<unknown>): Promise<boolean> {
    return Boolean(await kit.web.attempt(change, refusals, (error) => showOverview(ctx, interaction, error.messageId, error.status)));
  }

  function showMethod(ctx: Context, interaction: Interaction, methodId: string, page: MethodPage): Promise<void> {
    const links = {
      action: (step: string) => kit.url(interaction.uid, 'methods', methodId, step),
      backUrl: kit.url(interaction.uid),
      csrf: kit.csrf.token(interaction.uid, PURPOSE),
    };
    return renderMethodPage(render, ctx, methodId, page, links, { uiLocales: kit.uiLocales(interaction) });
  }

  /** The password form; `returnTo` is where to go once it is right ('' for the overview). */
  async function showConfirm(ctx: Context, interaction: Interaction, user: User, returnTo: string, failed: boolean): Promise<void> {
    await render(
      ctx,
      'setup/confirm-password',
      {
        title: 'setup.confirm.title',
        action: kit.url(interaction.uid, 'confirm-password'),
        csrf: kit.csrf.token(interaction.uid, PURPOSE),
        returnTo,
        failed,
        username: user.username,
      },
      { uiLocales: kit.uiLocales(interaction), status: failed ? 400 : 200 },
    );
  }

  const fresh = async (interaction: Interaction) => reauth.isFresh(await kit.authenticatedAt(interaction));

  /** Every registration route: the flow must be at one of our prompts. */
  async function flow(ctx: Context, post: boolean) {
    const interaction = await kit.details(ctx);
    const form = post ? await kit.form(ctx, interaction, PURPOSE) : undefined;
    kit.requirePrompt(interaction, ...PROMPTS);
    return { interaction, form, user: await userOf(interaction) };
  }

  router.get('/interaction/:uid/methods/:method', async (ctx) => {
    const { interaction, user } = await flow(ctx, false);
    if (!(await fresh(interaction))) return showConfirm(ctx, interaction, user, `methods/${ctx.params.method}`, false);
    const page = await registration.begin(user, ctx.params.method!, { ...kit.language(ctx, interaction), flow: interaction.uid });
    return showMethod(ctx, interaction, ctx.params.method!, page);
  });

  router.post('/interaction/:uid/methods/:method/remove', async (ctx) => {
    const { interaction, user } = await flow(ctx, true);
    if (!(await fresh(interaction))) return showConfirm(ctx, interaction, user, '', false);
    if (!(await orOverview(ctx, interaction, () => registration.remove(user, ctx.params.method!, t(ctx, interaction), info(ctx, interaction))))) return;
    kit.web.seeOther(ctx, kit.url(interaction.uid));
  });

  router.post('/interaction/:uid/methods/:method/:step', async (ctx) => {
    const { interaction, form, user } = await flow(ctx, true);
    if (!(await fresh(interaction))) return showConfirm(ctx, interaction, user, `methods/${ctx.params.method}`, false);
    const outcome = await registration.step(user, ctx.params.method!, ctx.params.step!, form!, { ...kit.language(ctx, interaction), flow: interaction.uid }, info(ctx, interaction));
    if (outcome.kind === 'page') return showMethod(ctx, interaction, ctx.params.method!, outcome.page);
    kit.web.seeOther(ctx, kit.url(interaction.uid));
  });

  router.post('/interaction/:uid/confirm-password', async (ctx) => {
    const { interaction, form, user } = await flow(ctx, true);
    const returnTo = /^methods\/[A-Za-z]+$/.test(form!.returnTo ?? '') ? form!.returnTo! : '';
    const at = await reauth.confirmPassword(user, form!.password ?? '', info(ctx, interaction));
    if (at === undefined) return showConfirm(ctx, interaction, user, returnTo, true);
    await kit.reauthenticated(interaction, at);
    kit.web.seeOther(ctx, returnTo ? kit.url(interaction.uid, ...returnTo.split('/')) : kit.url(interaction.uid));
  });

  router.post('/interaction/:uid/finish', async (ctx) => {
    const { interaction, user } = await flow(ctx, true);
    kit.requirePrompt(interaction, REGISTER_PROMPT);
    if (!(await orOverview(ctx, interaction, () => registration.complete(user, info(ctx, interaction))))) return;
    return kit.finish(ctx, interaction, { [REGISTER_PROMPT]: { completed: true } }, true);
  });

  router.post('/interaction/:uid/reconfirm', async (ctx) => {
    const { interaction, user } = await flow(ctx, true);
    kit.requirePrompt(interaction, RECONFIRM_PROMPT);
    if (!(await orOverview(ctx, interaction, () => registration.reconfirm(user, info(ctx, interaction))))) return;
    return kit.finish(ctx, interaction, { [RECONFIRM_PROMPT]: { confirmed: true } }, true);
  });

  router.post('/interaction/:uid/skip', async (ctx) => {
    const { interaction, user } = await flow(ctx, true);
    if (!(await orOverview(ctx, interaction, () => registration.skip(user, info(ctx, interaction))))) return;
    return kit.finish(ctx, interaction, { [interaction.prompt.name]: { skipped: true } }, true);
  });

  return {
    router,
    promptPages: {
      [REGISTER_PROMPT]: async (ctx, i) => {
        await registration.started(await userOf(i), info(ctx, i));
        return showOverview(ctx, i);
      },
      [RECONFIRM_PROMPT]: (ctx, i) => showOverview(ctx, i),
    },
  };
}
