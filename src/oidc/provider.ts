/** oidc-provider options built from the configuration and the IdP's parts. */
import type { Configuration, KoaContextWithOIDC, interactionPolicy } from 'oidc-provider';
import type { Context } from 'koa';
import type { Config } from '../config/schema.ts';
import type { Renderer } from '../web/render.ts';
import type { LoadedKeys } from './keys.ts';
import type { CookieSigner } from '../security/cookie-signer.ts';
import type { AdapterClass } from './adapter.ts';
import { scopeClaims } from './account.ts';
import { ACR_VALUES } from '../mfa/policy.ts';
import { isDatabaseUnavailable, RETRY_AFTER_SECONDS } from '../web/errors.ts';

export interface ProviderParts {
  config: Config;
  keys: LoadedKeys;
  cookieSigner: CookieSigner;
  adapter: AdapterClass;
  findAccount: NonNullable<Configuration['findAccount']>;
  policy: interactionPolicy.DefaultPolicy;
  render: Renderer;
  /** External path prefix ('' when the IdP sits at the root of its origin). */
  basePath: string;
  isFirstParty(clientId: string): boolean;
}

const isSameClient = (ctx: KoaContextWithOIDC, token: { clientId?: string }) => token.clientId === ctx.oidc.client?.clientId;

export function providerConfiguration(parts: ProviderParts): Configuration {
  const { config, keys, render, basePath } = parts;
  const ttl = config.oidc.ttl;
  return {
    adapter: parts.adapter,
    findAccount: parts.findAccount,
    jwks: { keys: keys.jwks as unknown as NonNullable<Configuration['jwks']>['keys'] },
    cookies: {
      keys: parts.cookieSigner,
      long: { signed: true, httpOnly: true, sameSite: 'lax' },
      short: { signed: true, httpOnly: true, sameSite: 'lax' },
    },
    interactions: {
      policy: parts.policy,
      url: (_ctx, interaction) => `${basePath}/interaction/${interaction.uid}`,
    },
    scopes: ['openid', 'offline_access', 'profile', 'email', 'groups'],
    // The levels a relying party can ask for with acr_values; the ID token says which was met (acr, amr).
    acrValues: [...ACR_VALUES],
    // Every ID token says how and when the user authenticated (acr, amr, auth_time), asked for or not.
    claims: { ...Object.fromEntries(Object.entries(scopeClaims).map(([scope, claims]) => [scope, [...claims]])), openid: [...scopeClaims.openid, 'acr', 'amr', 'auth_time'] },
    responseTypes: ['code'],
    clientDefaults: {
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: config.oidc.signingAlgorithm,
      // Every ID token says when the user authenticated, so a relying party can judge step-up.
      require_auth_time: true,
    },
    // Public clients always need PKCE; with `oidc.requirePkce: all` confidential ones too.
    pkce: { required: (_ctx, client) => config.oidc.requirePkce === 'all' || client.clientAuthMethod === 'none' },
    features: {
      devInteractions: { enabled: false },
      revocation: {
        enabled: true,
        allowedPolicy: async (ctx, _client, token) => isSameClient(ctx, token),
      },
      introspection: {
        enabled: true,
        allowedPolicy: async (ctx, _client, token) => isSameClient(ctx, token),
      },
      userinfo: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx, form) {
          await render(ctx as unknown as Context, 'logout/logout', { title: 'logout.title', form });
        },
        async postLogoutSuccessSource(ctx) {
          const client = ctx.oidc.client;
          await render(ctx as unknown as Context, 'logout/logged-out', {
            title: 'logout.done.title',
            clientName: client ? client.clientName ?? client.clientId : '',
          });
        },
      },
    },
    clientBasedCORS(ctx, origin, client) {
      if (origin === 'null') return false;
      if (ctx.oidc.route === 'userinfo' || client.clientAuthMethod === 'none') {
        return client.redirectUris?.some((uri) => URL.parse(uri)?.origin === origin) ?? false;
      }
      return false;
    },
    ttl: {
      AccessToken: ttl.accessToken,
      AuthorizationCode: ttl.authorizationCode,
      BackchannelAuthenticationRequest: ttl.deviceCode,
      ClientCredentials: ttl.clientCredentials,
      DeviceCode: ttl.deviceCode,
      Grant: ttl.grant,
      IdToken: ttl.idToken,
      Interaction: ttl.interaction,
      PreAuthorizedCode: ttl.authorizationCode,
      RefreshToken: ttl.refreshToken,
      Session: ttl.session,
    },
    async loadExistingGrant(ctx) {
      const { oidc } = ctx;
      const grantId = oidc.result?.consent?.grantId || oidc.session!.grantIdFor(oidc.client!.clientId);
      const existing = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
      if (!parts.isFirstParty(oidc.client!.clientId)) return existing;
      // First-party clients are trusted: what they ask for is granted without a consent page.
      const grant = existing ?? new oidc.provider.Grant({ clientId: oidc.client!.clientId, accountId: oidc.session!.accountId! });
      grant.addOIDCScope([...oidc.requestParamOIDCScopes].join(' '));
      if (oidc.requestParamClaims.size) grant.addOIDCClaims([...oidc.requestParamClaims]);
      await grant.save();
      return grant;
    },
    async renderError(ctx, out, error) {
      // oidc-provider answers any unexpected error with 500 server_error; an outage of the
      // database is the same temporary 503 as on the IdP's own pages.
      if (isDatabaseUnavailable(error)) {
        ctx.set('Retry-After', String(RETRY_AFTER_SECONDS));
        await render(ctx as unknown as Context, 'error', { title: 'error.title', code: 'service_unavailable', messageId: 'error.unavailable' }, { status: 503 });
        return;
      }
      await render(ctx as unknown as Context, 'error', {
        title: 'error.title',
        code: out.error,
        messageId: 'error.oidc',
        detail: out.error_description,
      }, { status: ctx.status >= 400 ? ctx.status : 400 });
    },
  };
}
