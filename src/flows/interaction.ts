/** Helpers shared by every page under /interaction/:uid: the flow, its forms, its end. */
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import { errors } from 'oidc-provider';
import { AppError } from '../errors.ts';
import type { Form } from '../security/form.ts';
import type { Csrf } from '../security/csrf.ts';
import type { Clock } from '../clock.ts';
import type { Locale, Translate } from '../i18n/index.ts';
import type { RouteKit } from '../web/route-kit.ts';
import type { UserService } from '../users/service.ts';
import type { User } from '../store/users.ts';

export type Interaction = Awaited<ReturnType<Provider['interactionDetails']>>;
export type InteractionResult = Parameters<Provider['interactionResult']>[2];

/** Renders the page of a prompt (GET /interaction/:uid). */
export type PromptPage = (ctx: Context, interaction: Interaction) => Promise<void>;

export interface InteractionKit {
  provider: Provider;
  csrf: Csrf;
  basePath: string;
  /** The route kit every page uses (forms, cookies, error pages). */
  web: RouteKit;
  url(uid: string, ...path: string[]): string;
  details(ctx: Context): Promise<Interaction>;
  /** Reads the posted form and checks its CSRF token for this flow and purpose. */
  form(ctx: Context, interaction: Interaction, purpose: string): Promise<Form>;
  requirePrompt(interaction: Interaction, ...names: string[]): void;
  /**
   * Ends the prompt with `result` and redirects back to the authorization endpoint. Saves the
   * interaction this request already loaded with details(), as provider.interactionResult would
   * after loading it a second time (its cookie, its row and the session's row again).
   */
  finish(ctx: Context, interaction: Interaction, result: InteractionResult, merge: boolean): Promise<void>;
  clientName(interaction: Interaction): Promise<string>;
  uiLocales(interaction: Interaction): string | undefined;
  /** The page's language for this flow (its ui_locales first) and its translator. */
  language(ctx: Context, interaction: Interaction): { locale: Locale; t: Translate };
  /** Now, from the injected clock (epoch ms). */
  now(): number;
  /** When the flow's account last authenticated (epoch ms): oidc-provider's session loginTs. */
  authenticatedAt(interaction: Interaction): Promise<number | undefined>;
  /** Records a password check at `at` (epoch ms) as the session's authentication time. */
  reauthenticated(interaction: Interaction, at: number): Promise<void>;
}

export const sessionExpired = () => new AppError('session_expired');

/** The flow's account, while it is still enabled; otherwise the flow has expired for the user. */
export async function enabledAccount(users: UserService, interaction: Interaction): Promise<User> {
  const accountId = interaction.session?.accountId;
  const user = accountId ? await users.byId(accountId) : undefined;
  if (!user || user.status !== 'enabled') throw sessionExpired();
  return user;
}

export function interactionKit(provider: Provider, web: RouteKit, clock: Clock): InteractionKit {
  const basePath = web.site().basePath;
  const uiLocales = (interaction: Interaction) => (typeof interaction.params.ui_locales === 'string' ? interaction.params.ui_locales : undefined);
  /** The flow's oidc-provider session (found by its uid, which survives id rotation), if still the same account's. */
  async function sessionOf(interaction: Interaction) {
    const { uid, accountId } = interaction.session ?? {};
    const session = uid ? await provider.Session.findByUid(uid) : undefined;
    return session && accountId && session.accountId === accountId ? session : undefined;
  }

  return {
    provider,
    csrf: web.csrf,
    basePath,
    web,
    url: (uid, ...path) => [`${basePath}/interaction/${uid}`, ...path].join('/'),
    async details(ctx) {
      let interaction: Interaction;
      try {
        interaction = await provider.interactionDetails(ctx.req, ctx.res);
      } catch (error) {
        if (error instanceof errors.SessionNotFound) throw sessionExpired();
        throw error;
      }
      if (interaction.uid !== ctx.params.uid) throw sessionExpired();
      return interaction;
    },
    form: (ctx, interaction, purpose) => web.form(ctx, interaction.uid, purpose),
    requirePrompt(interaction, ...names) {
      if (!names.includes(interaction.prompt.name)) throw new AppError('wrong_step', `expected prompt ${names.join('|')}`);
    },
    async finish(ctx, interaction, result, merge) {
      interaction.result = merge && !('error' in result) ? { ...interaction.lastSubmission, ...result } : result;
      // oidc-provider's own clock (not the injected one) set `exp`: the remaining lifetime is by it too.
      await interaction.save(interaction.exp - Math.floor(Date.now() / 1000));
      web.seeOther(ctx, interaction.returnTo);
    },
    async clientName(interaction) {
      const client = await provider.Client.find(String(interaction.params.client_id));
      return client?.clientName ?? client?.clientId ?? '';
    },
    uiLocales,
    language: (ctx, interaction) => web.language(ctx, uiLocales(interaction)),
    now: () => clock.now(),
    async authenticatedAt(interaction) {
      const loginTs = (await sessionOf(interaction))?.loginTs;
      return typeof loginTs === 'number' ? loginTs * 1000 : undefined;
    },
    async reauthenticated(interaction, at) {
      const session = await sessionOf(interaction);
      if (!session) throw sessionExpired();
      session.loginTs = Math.floor(at / 1000);
      await session.persist();
    },
  };
}
