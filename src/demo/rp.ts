/** The demo's relying party: a sign-in button, the returned claims, sign-out. Uses openid-client. */
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import * as oidc from 'openid-client';

export interface DemoRp {
  server: http.Server;
  close(): Promise<void>;
}

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const page = (title: string, body: string) => `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,"><title>${escape(title)}</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem"><h1>${escape(title)}</h1>${body}</body></html>`;

export async function startDemoRp(options: { issuer: string; port: number; clientId: string; clientSecret: string }): Promise<DemoRp> {
  const base = `http://localhost:${options.port}`;
  let config: oidc.Configuration | undefined;
  const discover = async () =>
    (config ??= await oidc.discovery(new URL(options.issuer), options.clientId, undefined, oidc.ClientSecretBasic(options.clientSecret), { execute: [oidc.allowInsecureRequests] }));
  // One pending sign-in per browser, keyed by a cookie; fine for a demo.
  const pending = new Map<string, { verifier: string; state: string; nonce: string }>();
  const sessions = new Map<string, { claims: Record<string, unknown>; idToken: string }>();

  const server = http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? '/', base);
      const cookie = /demo_rp=([A-Za-z0-9_-]+)/.exec(req.headers.cookie ?? '')?.[1];
      const sid = cookie ?? randomBytes(16).toString('base64url');
      if (!cookie) res.setHeader('Set-Cookie', `demo_rp=${sid}; HttpOnly; SameSite=Lax; Path=/`);
      const send = (status: number, html: string) => {
        res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8' });
        res.end(html);
      };
      if (url.pathname === '/') {
        const session = sessions.get(sid);
        if (!session) return send(200, page('Demo application', `<p>This application signs you in with the oidc-sspr identity provider.</p><p><a href="/login">Sign in</a></p>`));
        const rows = Object.entries(session.claims).map(([k, v]) => `<tr><th scope="row">${escape(k)}</th><td>${escape(JSON.stringify(v))}</td></tr>`).join('');
        return send(200, page('Signed in', `<table style="width: 100%; table-layout: fixed; overflow-wrap: anywhere; text-align: left">${rows}</table><p><a href="/logout">Sign out</a></p>`));
      }
      const c = await discover();
      if (url.pathname === '/login') {
        const verifier = oidc.randomPKCECodeVerifier();
        const state = oidc.randomState();
        const nonce = oidc.randomNonce();
        pending.set(sid, { verifier, state, nonce });
        const target = oidc.buildAuthorizationUrl(c, {
          redirect_uri: `${base}/callback`,
          scope: 'openid profile email groups',
          code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
          code_challenge_method: 'S256',
          state,
          nonce,
          // /login?acr_values=multi-factor asks for a step-up.
          ...(url.searchParams.get('acr_values') ? { acr_values: url.searchParams.get('acr_values')! } : {}),
        });
        res.writeHead(303, { Location: target.href });
        return res.end();
      }
      if (url.pathname === '/callback') {
        const p = pending.get(sid);
        if (!p) return send(400, page('Sign-in failed', '<p>No sign-in was started here. <a href="/">Start again</a></p>'));
        pending.delete(sid);
        if (url.searchParams.get('error')) return send(200, page('Sign-in cancelled', `<p>${escape(url.searchParams.get('error') ?? '')}</p><p><a href="/">Back</a></p>`));
        const tokens = await oidc.authorizationCodeGrant(c, url, { pkceCodeVerifier: p.verifier, expectedState: p.state, expectedNonce: p.nonce, idTokenExpected: true });
        const info = await oidc.fetchUserInfo(c, tokens.access_token, tokens.claims()!.sub);
        // How the user signed in (the ID token's acr and amr) next to who they are.
        const { acr, amr } = tokens.claims()!;
        sessions.set(sid, { claims: { ...info, ...(acr ? { acr } : {}), ...(amr ? { amr } : {}) }, idToken: tokens.id_token! });
        res.writeHead(303, { Location: '/' });
        return res.end();
      }
      if (url.pathname === '/logout') {
        const session = sessions.get(sid);
        sessions.delete(sid);
        const target = session ? oidc.buildEndSessionUrl(c, { id_token_hint: session.idToken, post_logout_redirect_uri: `${base}/` }).href : '/';
        res.writeHead(303, { Location: target });
        return res.end();
      }
      return send(404, page('Not found', '<p><a href="/">Home</a></p>'));
    } catch (error) {
      res.writeHead(502, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(`The demo application could not talk to the identity provider: ${(error as Error).message}`);
    }
  });
  await new Promise<void>((resolve) => server.listen(options.port, resolve));
  return { server, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
