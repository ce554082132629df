/**
 * The Koa middleware stack in front of a Provider: origin pinning, security headers, error pages,
 * the language choice, assets, then the interaction routes of every flow and the Provider itself.
 */
import path from 'node:path';
import type { Middleware } from 'koa';
import compose from 'koa-compose';
import mount from 'koa-mount';
import type Provider from 'oidc-provider';
import type { LiveConfig } from '../config/live.ts';
import type { Store } from '../store/index.ts';
import type { Logger } from '../logging.ts';
import type { Clock } from '../clock.ts';
import type { Csrf } from '../security/csrf.ts';
import { securityHeaders } from '../security/headers.ts';
import { loginRoutes } from '../flows/login/routes.ts';
import { interactionKit } from '../flows/interaction.ts';
import { registerRoutes } from '../flows/register/routes.ts';
import { ReauthService } from '../flows/register/reauth.ts';
import { SetupService } from '../flows/setup/service.ts';
import { setupRoutes } from '../flows/setup/routes.ts';
import { recoverRoutes } from '../flows/recover/routes.ts';
import { mfaRoutes } from '../flows/mfa/routes.ts';
import { PasskeySignIn } from '../methods/passkey/sign-in.ts';
import { createRouteKit } from '../web/route-kit.ts';
import { requestId } from '../web/request-id.ts';
import { clientAuthGuard, clientAuthLimits } from '../oidc/client-auth-throttle.ts';
import { pinOrigin } from '../web/pin-origin.ts';
import { viewsDir, LOCALE_COOKIE, type Renderer, type SiteInfo } from '../web/render.ts';
import { formActionsOnGet } from '../web/form-get.ts';
import { errorPages } from '../web/errors.ts';
import { assets } from '../web/assets.ts';
import { isLocale } from '../i18n/index.ts';
import type { Services } from './services.ts';

export interface StackDeps {
  live: LiveConfig;
  store: Store;
  services: Services;
  csrf: Csrf;
  render: Renderer;
  site: () => SiteInfo;
  basePath: string;
  /** server.issuer as the IdP started with (it needs a restart to change). */
  issuer: string;
  /** server.trustProxy as the IdP started with: whether a proxy's X-Request-Id is taken. */
  trustProxy: boolean;
  log: Logger;
  clock: Clock;
  cwd?: string;
}

/** `?lang=nl` on any page keeps that language in a cookie. */
const rememberLocale: Middleware = async (ctx, next) => {
  const lang = ctx.query.lang;
  if (isLocale(lang)) {
    ctx.cookies.set(LOCALE_COOKIE, lang, { httpOnly: true, sameSite: 'lax', maxAge: 365 * 86400_000, path: '/', signed: false });
  }
  await next();
};

export function interactionStack(provider: Provider, deps: StackDeps): Middleware {
  const { live, store, services, csrf, render, site, basePath, clock } = deps;
  const { registration, users, passwordSignIn, mfa, devices, login, recovery, captcha, throttle, methodDeps } = services;
  const config = () => live.current;
  const bodyLimitKb = () => live.current.server.bodyLimitKb;
  const web = createRouteKit({ csrf, site, bodyLimitKb });
  const kit = interactionKit(provider, web, clock);
  const reauth = new ReauthService({ signIn: passwordSignIn, audit: store.audit, clock });
  const register = registerRoutes({ kit, registration, reauth, users, render });
  const second = mfaRoutes({ kit, mfa, devices, users, render, config });
  const routes = loginRoutes({ kit, login, render, promptPages: { ...register.promptPages, ...second.promptPages }, passkeys: new PasskeySignIn(methodDeps) });
  const setup = setupRoutes({ setup: new SetupService({ store, users, clock, signIn: passwordSignIn }), registration, web, render });
  const recover = recoverRoutes({ recovery, captcha, web, render, config });
  return compose([
    requestId(deps.trustProxy),
    pinOrigin(deps.issuer),
    securityHeaders(),
    errorPages(render, deps.log),
    rememberLocale,
    formActionsOnGet(basePath),
    assets(path.join(viewsDir, 'assets'), { logoFile: () => live.current.ui.logoFile, cwd: deps.cwd }),
    register.router.routes() as Middleware,
    second.router.routes() as Middleware,
    setup.routes() as Middleware,
    recover.routes() as Middleware,
    routes.routes() as Middleware,
    routes.allowedMethods() as Middleware,
    clientAuthGuard(provider, { throttle, audit: store.audit, clock, limits: () => clientAuthLimits(live.current) }),
    mount(provider),
  ]);
}
