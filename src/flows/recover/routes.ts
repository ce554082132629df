/**
 * "Can't access your account?" under /reset: thin handlers over RecoveryService. The flow id
 * lives in a cookie scoped to /reset; every form carries a CSRF token bound to the flow.
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import { AppError } from '../../errors.ts';
import { readForm, type Form } from '../../security/form.ts';
import type { Csrf } from '../../security/csrf.ts';
import type { Captcha } from '../../security/captcha.ts';
import { localeOf, type Renderer, type SiteInfo } from '../../web/render.ts';
import { translator } from '../../i18n/index.ts';
import type { Config } from '../../config/schema.ts';
import type { ChallengePage } from '../../methods/types.ts';
import { refusalCodes } from './state.ts';
import { preSession } from '../../web/pre-session.ts';
import type { RecoveryService, Flow, RequestInfo } from './service.ts';
import type { Throttle } from '../../security/throttle.ts';

export interface RecoverRouteDeps {
  recovery: RecoveryService;
  captcha: Captcha;
  csrf: Csrf;
  render: Renderer;
  site: () => SiteInfo;
  config: () => Config;
  throttle: Throttle;
}

const FLOW_COOKIE = 'oidc_sspr_reset';
const PRE_COOKIE = 'oidc_sspr_reset_pre';

export function recoverRoutes(deps: RecoverRouteDeps): Router {
  const { recovery, csrf, render } = deps;
  const router = new Router();
  const base = () => `${deps.site().basePath}/reset`;
  const cookie = (ctx: Context, maxAge: number) => ({ httpOnly: true, sameSite: 'lax' as const, secure: ctx.secure, path: base(), maxAge, signed: false });
  const info = (ctx: Context): RequestInfo => {
    const locale = localeOf(ctx, deps.site());
    return { ip: ctx.ip, locale, t: translator(locale) };
  };
  /** Only an interaction page of this IdP may be returned to. */
  const safeReturn = (value: unknown): string | undefined => {
    const pattern = new RegExp(`^${deps.site().basePath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/interaction/[A-Za-z0-9_-]{1,100}$`);
    return typeof value === 'string' && pattern.test(value) ? value : undefined;
  };

  const pre = (ctx: Context) => preSession(ctx, PRE_COOKIE, base());

  async function form(ctx: Context, flowId: string, purpose: string): Promise<Form> {
    const body = await readForm(ctx, deps.config().server.bodyLimitKb);
    if (!csrf.verify(flowId, purpose, body.csrf)) throw new AppError('csrf_invalid');
    return body;
  }

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
    return recovery.load(ctx.cookies.get(FLOW_COOKIE));
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
  router.use(async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      if (!(error instanceof AppError) || error.code !== 'reset_expired') throw error;
      ctx.cookies.set(FLOW_COOKIE, '', cookie(ctx, 0));
      await render(ctx, 'recover/expired', { title: 'recover.expired.title', startUrl: base() }, { status: 410 });
    }
  });

  router.get('/reset', async (ctx) => showIdentify(ctx, safeReturn(ctx.query.return)));

  router.get('/reset/captcha', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = await deps.captcha.challenge();
  });

  router.post('/reset', async (ctx) => {
    const body = await form(ctx, pre(ctx), 'reset-start');
    const returnTo = safeReturn(body.return);
    const username = (body.username ?? '').trim();
    if (!username || username.length > 256) return showIdentify(ctx, returnTo, 'recover.username_required', username.slice(0, 256), 400);
    const perIp = deps.config().throttle;
    if (!(await deps.throttle.hit(`reset:ip:${ctx.ip}`, { points: perIp.resetPerIp, windowSeconds: perIp.resetWindowSeconds })).allowed) {
      return showIdentify(ctx, returnTo, 'recover.too_many_from_network', username, 429);
    }
    if (deps.config().sspr.captcha.enabled && !(await deps.captcha.verify(body.altcha))) {
      return showIdentify(ctx, returnTo, 'recover.captcha_failed', username, 400);
    }
    const id = await recovery.start(username, returnTo, { ip: ctx.ip });
    ctx.cookies.set(FLOW_COOKIE, id, cookie(ctx, deps.config().sspr.resetFlowMinutes * 60_000));
    ctx.status = 303;
    ctx.redirect(`${base()}/flow`);
  });

  router.get('/reset/flow', async (ctx) => showFlow(ctx, await recovery.current(await loadFlow(ctx), info(ctx))));

  router.post('/reset/flow/method', async (ctx) => {
    const flow = await loadFlow(ctx);
    const body = await form(ctx, flow.id, 'reset');
    const { flow: moved, page } = await recovery.choose(flow, body.method ?? '', info(ctx));
    return showFlow(ctx, moved, page);
  });

  router.post('/reset/flow/answer', async (ctx) => {
    const flow = await loadFlow(ctx);
    const body = await form(ctx, flow.id, 'reset');
    const { flow: moved, page } = await recovery.answer(flow, body, info(ctx));
    if (page) return showFlow(ctx, moved, page);
    ctx.status = 303;
    ctx.redirect(`${base()}/flow`);
  });

  router.post('/reset/flow/other', async (ctx) => {
    // "Use another method": back to the list (the current challenge is dropped, its failures kept).
    const flow = await loadFlow(ctx);
    await form(ctx, flow.id, 'reset');
    await recovery.dropChallenge(flow, info(ctx));
    ctx.status = 303;
    ctx.redirect(`${base()}/flow`);
  });

  router.post('/reset/flow/decide', async (ctx) => {
    const flow = await loadFlow(ctx);
    const body = await form(ctx, flow.id, 'reset');
    await recovery.decide(flow, body.choice ?? '', info(ctx));
    ctx.status = 303;
    ctx.redirect(`${base()}/flow`);
  });

  router.post('/reset/flow/password', async (ctx) => {
    const flow = await loadFlow(ctx);
    const body = await form(ctx, flow.id, 'reset');
    const { problems } = await recovery.setPassword(flow, body.password ?? '', body.confirm ?? '', info(ctx));
    if (problems.length) {
      return render(ctx, 'recover/password', { csrf: csrf.token(flow.id, 'reset'), flowUrl: `${base()}/flow`, title: 'recover.password.title', problems, policy: deps.config().passwordPolicy }, { status: 400 });
    }
    ctx.status = 303;
    ctx.redirect(`${base()}/flow`);
  });

  router.post('/reset/flow/contact', async (ctx) => {
    const flow = await loadFlow(ctx);
    await form(ctx, flow.id, 'reset');
    const moved = await recovery.contactAdmin(flow, info(ctx));
    return showFlow(ctx, moved);
  });

  return router;
}
