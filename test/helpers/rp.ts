/** A real relying party (openid-client) driving the code flow through the test browser. */
import * as oidc from 'openid-client';
import { Browser, type Page } from './browser.ts';
import { RP_REDIRECT } from './idp.ts';

export interface RpOptions {
  issuer: string;
  clientId: string;
  clientSecret?: string;
  authMethod?: 'client_secret_basic' | 'client_secret_post' | 'none';
}

export async function discover(options: RpOptions): Promise<oidc.Configuration> {
  const auth =
    options.authMethod === 'none' || !options.clientSecret
      ? oidc.None()
      : options.authMethod === 'client_secret_post'
        ? oidc.ClientSecretPost(options.clientSecret)
        : oidc.ClientSecretBasic(options.clientSecret);
  return oidc.discovery(new URL(options.issuer), options.clientId, undefined, auth, { execute: [oidc.allowInsecureRequests] });
}

export interface Authorization {
  url: URL;
  verifier: string;
  state: string;
  nonce: string;
}

export async function authorizationRequest(config: oidc.Configuration, params: Record<string, string> = {}): Promise<Authorization> {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: RP_REDIRECT,
    scope: 'openid profile email',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    ...params,
  });
  return { url, verifier, state, nonce };
}

export function newBrowser(): Browser {
  return new Browser([new URL(RP_REDIRECT).origin]);
}

/** Submits the sign-in form shown on `page`. */
export function signIn(browser: Browser, page: Page, username: string, password: string): Promise<Page> {
  return browser.submit(page, '/login', { username, password });
}

export async function redeem(config: oidc.Configuration, auth: Authorization, callbackUrl: string) {
  return oidc.authorizationCodeGrant(config, new URL(callbackUrl), {
    pkceCodeVerifier: auth.verifier,
    expectedState: auth.state,
    expectedNonce: auth.nonce,
    idTokenExpected: true,
  });
}

/** The whole code flow for one user: authorize, sign in (consent if asked), redeem. */
export async function login(config: oidc.Configuration, username: string, password: string, params: Record<string, string> = {}, browser = newBrowser()) {
  const auth = await authorizationRequest(config, params);
  let page = await browser.navigate(auth.url.href);
  page = await signIn(browser, page, username, password);
  if (page.status === 200 && page.html.includes('/confirm"')) page = await browser.submit(page, '/confirm');
  if (page.status !== 0) throw new Error(`sign-in did not return to the client (status ${page.status}): ${page.html.slice(0, 1500)}`);
  const tokens = await redeem(config, auth, page.url);
  return { tokens, browser, auth, callbackUrl: page.url };
}

/**
 * The relying party `discovered` describes, sending everything but the issuer name to `to` instead
 * of `from` (another instance of the same IdP), authenticating with client_secret_basic.
 */
export function rpAt(discovered: oidc.Configuration, from: string, to: string, clientId: string, clientSecret: string): oidc.Configuration {
  const { supportsPKCE: _unused, ...metadata } = discovered.serverMetadata();
  const moved = Object.fromEntries(
    Object.entries(metadata).map(([k, v]) => [k, k !== 'issuer' && typeof v === 'string' ? v.replace(from, to) : v]),
  ) as oidc.ServerMetadata;
  const config = new oidc.Configuration(moved, clientId, undefined, oidc.ClientSecretBasic(clientSecret));
  oidc.allowInsecureRequests(config);
  return config;
}

export { oidc };
