/** The second-factor prompt under /interaction/:uid: choose a way, get or read a code, prove it. */
import Router from '@koa/router';
import type { Context } from 'koa';
import type { Renderer } from '../../web/render.ts';
import type { UserService } from '../../users/service.ts';
import type { Config } from '../../config/schema.ts';
import { enabledAccount, type InteractionKit, type Interaction, type PromptPage } from '../interaction.ts';
import type { MfaService, MfaRequest } from '../../mfa/service.ts';
import { DEVICE_COOKIE, type RememberedDevices } from '../../mfa/devices.ts';
import { isMethodId, methodFacts, type MethodId } from '../../methods/ids.ts';
import { availableMethods } from '../../sspr/policy.ts';
import { ACR_MFA } from '../../mfa/policy.ts';
import { MFA_PROMPT } from '../../oidc/policy.ts';
import type { PhoneChannel } from '../../delivery/channel.ts';

export interface MfaRouteDeps {
  kit: InteractionKit;
  mfa: MfaService;
  devices: RememberedDevices;
  users: UserService;
  render: Renderer;
  config: () => Config;
}

const PURPOSE = 'mfa';

interface Shown {
  method?: string;
  sent?: boolean;
  channel?: PhoneChannel;
  error?: string;
  errorVars?: Record<string, string | number>;
  status?: number;
}

export function mfaRoutes(deps: MfaRouteDeps): { router: Router; promptPages: Record<string, PromptPage> } {
  const { kit, mfa, render } = deps;
  const router = new Router();
  const request = (ctx: Context, interaction: Interaction): MfaRequest => ({ flow: interaction.uid, ip: ctx.ip, clientId: String(interaction.params.client_id) });
  const userOf = (interaction: Interaction) => enabledAccount(deps.users, interaction);

  /** The methods a user without a second factor may set up here (through the registration pages). */
  function setupChoices(isAdmin: boolean): MethodId[] {
    const config = deps.config();
    return availableMethods(config.sspr, isAdmin).filter((id) => config.mfa.methods.includes(id) && methodFacts(id).userManaged);
  }

  async function show(ctx: Context, interaction: Interaction, shown: Shown = {}): Promise<void> {
    const user = await userOf(interaction);
    const factors = await mfa.factors(user);
    const common = { clientName: await kit.clientName(interaction), abortAction: kit.url(interaction.uid, 'abort'), abortCsrf: kit.csrf.token(interaction.uid, 'abort') };
    const options = { uiLocales: kit.uiLocales(interaction), status: shown.status };
    if (factors.length === 0) {
      const setup = setupChoices(false).map((id) => ({ id, url: kit.url(interaction.uid, 'methods', id) }));
      return render(ctx, 'mfa/none', { title: 'mfa.none.title', ...common, setup }, options);
    }
    const current = factors.find((f) => f.id === shown.method) ?? factors[0]!;
    const passkeyOptions = current.id === 'passkey' ? await mfa.passkeyOptions(user, request(ctx, interaction)) : undefined;
    await render(
      ctx,
      'mfa/verify',
      {
        title: 'mfa.title',
        ...common,
        current,
        others: factors.filter((f) => f.id !== current.id).map((f) => ({ ...f, url: `${kit.url(interaction.uid)}?method=${f.id}` })),
        voice: current.id === 'mobilePhone' && deps.config().sspr.methods.mobilePhone.voice,
        sent: shown.sent ?? false,
        channel: shown.channel ?? (current.id === 'officePhone' ? 'voice' : 'sms'),
        sendAction: kit.url(interaction.uid, 'mfa', 'send'),
        verifyAction: kit.url(interaction.uid, 'mfa', 'verify'),
        csrf: kit.csrf.token(interaction.uid, PURPOSE),
        passkeyOptions,
        error: shown.error,
        errorVars: shown.errorVars,
        rememberDays: deps.devices.days,
      },
      options,
    );
  }

  async function posted(ctx: Context) {
    const interaction = await kit.details(ctx);
    const form = await kit.form(ctx, interaction, PURPOSE);
    // A second factor is only taken after the first: at this prompt, with the password behind it.
    kit.requirePrompt(interaction, MFA_PROMPT);
    const method = isMethodId(form.method) ? form.method : undefined;
    return { interaction, form, method, user: await userOf(interaction) };
  }

  router.post('/interaction/:uid/mfa/send', async (ctx) => {
    const { interaction, form, method, user } = await posted(ctx);
    if (!method) return show(ctx, interaction, { error: 'mfa.method_unavailable', status: 400 });
    const channel = form.channel === 'voice' ? 'voice' : 'sms';
    const { locale, t } = kit.language(ctx, interaction);
    const sent = await mfa.send(user, method, channel, request(ctx, interaction), t, locale);
    if (!sent.ok) return show(ctx, interaction, { method, error: sent.error, errorVars: sent.vars, status: 400 });
    return show(ctx, interaction, { method, sent: true, channel });
  });

  router.post('/interaction/:uid/mfa/verify', async (ctx) => {
    const { interaction, form, method, user } = await posted(ctx);
    if (!method) return show(ctx, interaction, { error: 'mfa.method_unavailable', status: 400 });
    const outcome = await mfa.verify(user, method, (method === 'passkey' ? form.response : form.code) ?? '', request(ctx, interaction));
    if (!outcome.ok) return show(ctx, interaction, { method, sent: true, error: outcome.error, errorVars: outcome.vars, status: 400 });
    const before = (interaction.lastSubmission?.login as { amr?: string[] } | undefined)?.amr ?? ['pwd'];
    const amr = [...new Set([...before, outcome.amr, 'mfa'])];
    const login = { accountId: user.id, ts: Math.floor(kit.now() / 1000), acr: ACR_MFA, amr };
    if (form.remember === 'yes') {
      const remembered = await deps.devices.remember(user.id, request(ctx, interaction));
      if (remembered) {
        ctx.cookies.set(DEVICE_COOKIE, remembered.token, {
          signed: true,
          httpOnly: true,
          sameSite: 'lax',
          secure: ctx.secure,
          path: kit.basePath || '/',
          maxAge: remembered.maxAgeMs,
        });
      }
    }
    return kit.finish(ctx, interaction, { login, [MFA_PROMPT]: { method } }, true);
  });

  return { router, promptPages: { [MFA_PROMPT]: (ctx, interaction) => show(ctx, interaction, { method: typeof ctx.query.method === 'string' ? ctx.query.method : undefined }) } };
}
