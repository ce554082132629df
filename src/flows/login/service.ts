/** Sign-in and consent decisions; no HTTP here. */
import type Provider from 'oidc-provider';
import type { PasswordSignIn } from '../sign-in.ts';
import { scopeClaims } from '../../oidc/account.ts';

type Interaction = Awaited<ReturnType<Provider['interactionDetails']>>;

export type LoginOutcome = { ok: true; accountId: string } | { ok: false };

export class LoginService {
  readonly #signIn: PasswordSignIn;
  readonly isFirstParty: (clientId: string) => boolean;

  constructor(deps: { signIn: PasswordSignIn; isFirstParty: (clientId: string) => boolean }) {
    this.#signIn = deps.signIn;
    this.isFirstParty = deps.isFirstParty;
  }

  /** Every failure looks the same to the user; the log keeps the reason (never the password). */
  async signIn(username: string, password: string, context: { clientId: string; ip: string }): Promise<LoginOutcome> {
    const outcome = await this.#signIn.check(username, password, { ...context, via: 'login' });
    return outcome.ok ? { ok: true, accountId: outcome.user.id } : { ok: false };
  }

  knownScope(scope: string): boolean {
    return scope in scopeClaims || scope === 'offline_access';
  }

  /** Grants what the interaction found missing; returns the grant id. */
  async grantConsent(provider: Provider, interaction: Interaction): Promise<string> {
    const { details } = interaction.prompt as { details: { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> } };
    const accountId = interaction.session?.accountId;
    const clientId = String(interaction.params.client_id);
    const grant = interaction.grantId
      ? await provider.Grant.find(interaction.grantId)
      : new provider.Grant({ accountId, clientId });
    if (!grant) throw new Error('grant vanished during the interaction');
    if (details.missingOIDCScope) grant.addOIDCScope(details.missingOIDCScope.join(' '));
    if (details.missingOIDCClaims) grant.addOIDCClaims(details.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(details.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    return grant.save();
  }
}
