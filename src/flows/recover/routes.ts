/**
 * "Can't access your account?" under /reset: thin handlers over RecoveryService. The flow id
 * lives in a cookie scoped to /reset; every form carries a CSRF token bound to the flow.
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import type { Captcha } from '../../security/captcha.ts';
import type { Renderer } from '../../web/render.ts';
import type { RouteKit } from '../../web/route-kit.ts';
import type { Config } from '../../config/schema.ts';
import type { ChallengePage } from '../../methods/types.ts';
import { refusalCodes } from './state.ts';
import type { RecoveryService, Flow, RequestInfo } from './service.ts';

export interface RecoverRouteDeps {
  recovery: RecoveryService;
  /** Serves the widget's challenges; solutions are checked by the service (gate.ts). */
  captcha: Captcha;
  web: RouteKit;
  render: Renderer;
  config: () => Config;
}

export function recoverRoutes(deps: RecoverRouteDeps): Router {
  const { recovery, web, render } = deps;
  const { csrf } = web;
  const router = new Router();
  const base = () => `${web.site().basePath}/reset`;
  const flowCookie = web.cookie('oidc_sspr_reset', '/reset');
  const preCookie = web.cookie('oidc_sspr_reset_pre', '/reset');
  const info = (ctx: Context): RequestInfo => ({ ip: ctx.ip, ...web.language(ctx) });
  /** Only an interaction page of this IdP may be returned to. */
  const safeReturn = (value: unknown): string | undefined => {
    const pattern = new RegExp(`^${web.site().basePath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/interaction/[A-Za-z0-9_-]{1,100}$`);
    return typeof value === 'string' && pattern.test(value) ? value : undefined;
  };

  const pre = (ctx: Context) => preCookie.browserId(ctx);

  async function showIdentify(ctx: Context, returnTo: string | undefined, error?: string, username = '', status = 200): Promise<void> {
    await render(
      ctx,
      'recover/identify',
      {
        title: 'recover.title',
        action: base(),
        csrf: csrf.token(pre(ctx), 'reset-start'),
        captcha: deps.config().sspr.captcha.enabled,
        challengeUrl: `${base()}/captcha`,
        returnTo: returnTo ?? '',
        username,
        error,
      },
      { status },
    );
  }

  async function loadFlow(ctx: Context): Promise<Flow> {
    return recovery.load(flowCookie.get(ctx));
  }

  /** Renders whatever the flow's state calls for. */
  async function showFlow(ctx: Context, flow: Flow, page?: ChallengePage, status?: number): Promise<void> {
    const common = { csrf: csrf.token(flow.id, 'reset'), flowUrl: `${base()}/flow`, returnTo: flow.data.returnTo ?? '', startUrl: base() };
    const t = info(ctx).t;
    switch (flow.state) {
      case 'refused': {
        const reason = flow.data.reason ?? 'not_registered';
        const helpdesk = deps.config().sspr.helpdesk.url;
        return render(ctx, 'recover/refused', { ...common, title: `recover.refused.${reason}.title`, reason, code: refusalCodes[reason], helpdesk, contacted: Boolean(flow.data.contacted) }, { status: status ?? 200 });
      }
      case 'verify': {
        const shown = page ?? recovery.currentPage(flow);
        const step = flow.data.proven.length + 1;
        if (shown) {
          return render(ctx, shown.view, { ...common, title: 'recover.verify.title', ...shown.locals, error: shown.error, errorVars: shown.errorVars ?? {}, step, of: flow.data.required }, { status: status ?? (shown.error ? 400 : 200) });
        }
        const choices = await recovery.methodChoices(flow, t);
        return render(ctx, 'recover/verify', { ...common, title: 'recover.verify.title', choices, step, of: flow.data.required }, { status: status ?? 200 });
      }
      case 'choose':
        return render(ctx, 'recover/choose', { ...common, title: 'recover.choose.title' });
      case 'password':
        return render(ctx, 'recover/password', { ...common, title: 'recover.password.title', problems: [], policy: deps.config().passwordPolicy }, { status: status ?? 200 });
      case 'finishing':
        // Another submission of this flow is writing the new password to the directory right now.
        return render(ctx, 'recover/finishing', { ...common, title: 'recover.finishing.title' });
      case 'done':
        return render(ctx, 'recover/done', { ...common, title: 'recover.done.title', outcome: flow.data.outcome ?? 'reset' });
    }
  }

  // An expired or unknown flow explains itself and offers to start over.
  router.use(
    web.explain(['reset_expired'], async (ctx, error) => {
      flowCookie.clear(ctx);
      await render(ctx, 'recover/expired', { title: 'recover.expired.title', startUrl: base() }, { status: error.status });
    }),
  );

  router.get('/reset', async (ctx) => showIdentify(ctx, safeReturn(ctx.query.return)));

  router.get('/reset/captcha', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = await deps.captcha.challenge();
  });

  router.post('/reset', async (ctx) => {
    const body = await web.form(ctx, pre(ctx), 'reset-start');
    const returnTo = safeReturn(body.return);
    const username = (body.username ?? '').trim();
    if (!username || username.length > 256) return showIdentify(ctx, returnTo, 'recover.username_required', username.slice(0, 256), 400);
    // The CAPTCHA and the per-address budget are the service's (gate.ts); their refusals show this form again.
    const started = await web.attempt(
      () => recovery.start(username, returnTo, { ip: ctx.ip, captcha: body.altcha }),
      ['reset_captcha_failed', 'reset_too_many_from_network'],
      (error) => showIdentify(ctx, returnTo, error.messageId, username, error.status),
    );
    if (!started) return;
    flowCookie.set(ctx, started.value, deps.config().sspr.resetFlowMinutes * 60_000);
    web.seeOther(ctx, `${base()}/flow`);
  });

  router.get('/reset/flow', async (ctx) => showFlow(ctx, await recovery.current(await loadFlow(ctx), info(ctx))));

  router.post('/reset/flow/method', async (ctx) => {
    const flow = await loadFlow(ctx);
    const body = await web.form(ctx, flow.id, 'reset');
    const { flow: moved, page } = await recovery.choose(flow, body.method ?? '', info(ctx));
    return showFlow(ctx, moved, page);
  });

  router.post('/reset/flow/answer', async (ctx) => {
    const flow = await loadFlow(ctx);
    const body = await web.form(ctx, flow.id, 'reset');
    const { flow: moved, page } = await recovery.answer(flow, body, info(ctx));
    if (page) return showFlow(ctx, moved, page);
    web.seeOther(ctx, `${base()}/flow`);
  });

  router.post('/reset/flow/other', async (ctx) => {
    // "Use another method": back to the list (the current challenge is dropped, its failures kept).
    const flow = await loadFlow(ctx);
    await web.form(ctx, flow.id, 'reset');
    await recovery.dropChallenge(flow, info(ctx));
    web.seeOther(ctx, `${base()}/flow`);
  });

  router.post('/reset/flow/decide', async (ctx) => {
    const flow = await loadFlow(ctx);
    const body = await web.form(ctx, flow.id, 'reset');
    await recovery.decide(flow, body.choice ?? '', info(ctx));
    web.seeOther(ctx, `${base()}/flow`);
  });

  router.post('/reset/flow/password', async (ctx) => {
    const flow = await loadFlow(ctx);
    const body = await web.form(ctx, flow.id, 'reset');
    const { problems } = await recovery.setPassword(flow, body.password ?? '', body.confirm ?? '', info(ctx));
    if (problems.length) {
      return render(ctx, 'recover/password', { csrf: csrf.token(flow.id, 'reset'), flowUrl: `${base()}/flow`, title: 'recover.password.title', problems, policy: deps.config().passwordPolicy }, { status: 400 });
    }
    web.seeOther(ctx, `${base()}/flow`);
  });

  router.post('/reset/flow/contact', async (ctx) => {
    const flow = await loadFlow(ctx);
    await web.form(ctx, flow.id, 'reset');
    const moved = await recovery.contactAdmin(flow, info(ctx));
    return showFlow(ctx, moved);
  });

  return router;
}
