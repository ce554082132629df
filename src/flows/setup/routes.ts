/**
 * /security-info: sign in, see your recovery methods, add, change or remove them.
 * Thin handlers over SetupService and RegistrationService; method pages are the same views the
 * registration interrupt uses.
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import type { Renderer } from '../../web/render.ts';
import { refusals, type RouteKit } from '../../web/route-kit.ts';
import type { MethodPage } from '../../methods/types.ts';
import { renderMethodPage } from '../../web/method-page.ts';
import type { RegistrationService, RequestInfo } from '../register/service.ts';
import type { SetupService, SetupSession } from './service.ts';
import { SESSION_MINUTES } from './service.ts';

export interface SetupRouteDeps {
  setup: SetupService;
  registration: RegistrationService;
  web: RouteKit;
  render: Renderer;
}

export function setupRoutes(deps: SetupRouteDeps): Router {
  const { setup, registration, web, render } = deps;
  const { csrf } = web;
  const router = new Router();
  const base = () => `${web.site().basePath}/security-info`;
  const sessionCookie = web.cookie('oidc_sspr_account', '/security-info');
  const preCookie = web.cookie('oidc_sspr_account_pre', '/security-info');
  const translate = (ctx: Context) => web.language(ctx).t;
  const info = (ctx: Context, session: SetupSession): RequestInfo => ({ ip: ctx.ip, flowId: `setup:${session.id.slice(0, 8)}` });
  const form = web.form;
  const pre = (ctx: Context) => preCookie.browserId(ctx);

  async function showLogin(ctx: Context, failed: boolean, status = 200): Promise<void> {
    await render(ctx, 'setup/login', { title: 'setup.title', action: `${base()}/login`, csrf: csrf.token(pre(ctx), 'setup-login'), failed }, { status });
  }

  async function showOverview(ctx: Context, session: SetupSession, error?: string, status = 200): Promise<void> {
    const overview = await registration.overview(session.user, translate(ctx));
    await render(
      ctx,
      'setup/overview',
      {
        title: 'setup.title',
        username: session.user.username,
        overview,
        methodUrl: (id: string) => `${base()}/methods/${id}`,
        removeAction: (id: string) => `${base()}/methods/${id}/remove`,
        logoutAction: `${base()}/logout`,
        csrf: csrf.token(session.id, 'setup'),
        error,
      },
      { status },
    );
  }

  async function showConfirm(ctx: Context, session: SetupSession, returnTo: string, failed: boolean): Promise<void> {
    await render(
      ctx,
      'setup/confirm-password',
      { title: 'setup.confirm.title', action: `${base()}/confirm-password`, csrf: csrf.token(session.id, 'setup'), returnTo, failed, username: session.user.username },
      { status: failed ? 400 : 200 },
    );
  }

  function showMethod(ctx: Context, session: SetupSession, methodId: string, page: MethodPage): Promise<void> {
    const links = { action: (step: string) => `${base()}/methods/${methodId}/${step}`, backUrl: base(), csrf: csrf.token(session.id, 'setup') };
    return renderMethodPage(render, ctx, methodId, page, links);
  }

  async function current(ctx: Context): Promise<SetupSession | undefined> {
    return setup.session(sessionCookie.get(ctx));
  }

  /** The session, or a redirect to the sign-in form (returns undefined then). */
  async function required(ctx: Context): Promise<SetupSession | undefined> {
    const session = await current(ctx);
    if (!session) {
      web.seeOther(ctx, base());
    }
    return session;
  }

  /** After a change: the methods as they are now count as confirmed (when they are enough). */
  async function confirmed(session: SetupSession, ctx: Context): Promise<void> {
    await registration.confirmIfEnough(session.user, info(ctx, session));
  }

  router.get('/security-info', async (ctx) => {
    const session = await current(ctx);
    return session ? showOverview(ctx, session) : showLogin(ctx, false);
  });

  router.post('/security-info/login', async (ctx) => {
    const body = await form(ctx, pre(ctx), 'setup-login');
    const id = await setup.signIn(body.username ?? '', body.password ?? '', ctx.ip);
    if (!id) return showLogin(ctx, true);
    sessionCookie.set(ctx, id, SESSION_MINUTES * 60_000);
    web.seeOther(ctx, base());
  });

  router.post('/security-info/logout', async (ctx) => {
    const session = await required(ctx);
    if (!session) return;
    await form(ctx, session.id, 'setup');
    await setup.signOut(session.id);
    sessionCookie.clear(ctx);
    await render(ctx, 'setup/signed-out', { title: 'setup.signed_out.title', signInUrl: base() });
  });

  router.post('/security-info/confirm-password', async (ctx) => {
    const session = await required(ctx);
    if (!session) return;
    const body = await form(ctx, session.id, 'setup');
    const returnTo = /^\/methods\/[A-Za-z]+$/.test(body.returnTo ?? '') ? body.returnTo! : '';
    if (!(await setup.confirmPassword(session, body.password ?? '', ctx.ip))) return showConfirm(ctx, session, returnTo, true);
    web.seeOther(ctx, `${base()}${returnTo}`);
  });

  router.get('/security-info/methods/:method', async (ctx) => {
    const session = await required(ctx);
    if (!session) return;
    if (!session.fresh) return showConfirm(ctx, session, `/methods/${ctx.params.method}`, false);
    const page = await registration.begin(session.user, ctx.params.method!, { ...web.language(ctx), flow: info(ctx, session).flowId });
    return showMethod(ctx, session, ctx.params.method!, page);
  });

  router.post('/security-info/methods/:method/remove', async (ctx) => {
    const session = await required(ctx);
    if (!session) return;
    await form(ctx, session.id, 'setup');
    if (!session.fresh) return showConfirm(ctx, session, '', false);
    const removed = await web.attempt(
      () => registration.remove(session.user, ctx.params.method!, translate(ctx), info(ctx, session)),
      refusals,
      (error) => showOverview(ctx, session, error.messageId, error.status),
    );
    if (!removed) return;
    web.seeOther(ctx, base());
  });

  router.post('/security-info/methods/:method/:step', async (ctx) => {
    const session = await required(ctx);
    if (!session) return;
    const body = await form(ctx, session.id, 'setup');
    if (!session.fresh) return showConfirm(ctx, session, `/methods/${ctx.params.method}`, false);
    const outcome = await registration.step(session.user, ctx.params.method!, ctx.params.step!, body, { ...web.language(ctx), flow: info(ctx, session).flowId }, info(ctx, session));
    if (outcome.kind === 'page') return showMethod(ctx, session, ctx.params.method!, outcome.page);
    await confirmed(session, ctx);
    web.seeOther(ctx, base());
  });

  return router;
}
