/** Authentication mobile phone: a number (E.164) proven by a code sent by text or read out by a call. */
import { parsePhoneNumberWithError, getCountries, getCountryCallingCode, type CountryCode } from 'libphonenumber-js/max';
import type { RecoveryMethod, MethodDeps, MethodContext, MethodPage, StepOutcome } from '../types.ts';
import { maskPhone } from '../../delivery/mask.ts';
import { PHONE_CHANNELS } from '../../delivery/channel.ts';
import { sendCode, checkCode, spaced } from '../code-steps.ts';

const PURPOSE = 'register:mobile_phone';
const COUNTRIES = getCountries();

export type PhoneParse = { ok: true; e164: string } | { ok: false; error: string };

/** Parses a number typed with a country (or in +international form) into E.164; `mobileOnly` refuses landlines. */
export function parsePhone(country: string, number: string, mobileOnly = true): PhoneParse {
  const trimmed = number.trim();
  if (!trimmed || trimmed.length > 40 || /[^\d\s()+.\-/]/.test(trimmed)) return { ok: false, error: 'phone.invalid' };
  const region = (COUNTRIES as readonly string[]).includes(country) ? (country as CountryCode) : undefined;
  if (!region && !trimmed.startsWith('+')) return { ok: false, error: 'phone.country_required' };
  try {
    const parsed = parsePhoneNumberWithError(trimmed, region);
    if (!parsed.isValid()) return { ok: false, error: 'phone.invalid' };
    const type = parsed.getType();
    if (mobileOnly && type !== undefined && type !== 'MOBILE' && type !== 'FIXED_LINE_OR_MOBILE') return { ok: false, error: 'phone.not_mobile' };
    return { ok: true, e164: parsed.number };
  } catch {
    return { ok: false, error: 'phone.invalid' };
  }
}

/** Countries for the select: code, calling code; names come from Intl in the page's language. */
export function countryOptions(locale: string): { code: string; label: string }[] {
  const names = new Intl.DisplayNames([locale], { type: 'region' });
  return COUNTRIES.map((code) => ({ code, label: `${names.of(code) ?? code} (+${getCountryCallingCode(code)})` })).sort((a, b) =>
    a.label.localeCompare(b.label, locale),
  );
}

export function mobilePhoneMethod(deps: MethodDeps, defaultCountry: () => string): RecoveryMethod {
  const channels = () => {
    const m = deps.config().sspr.methods.mobilePhone;
    return PHONE_CHANNELS.filter((channel) => m[channel]);
  };
  const page = (ctx: MethodContext, step: 'number' | 'code', locals: Record<string, unknown>, error?: string, errorVars?: Record<string, string | number>): MethodPage => ({
    view: 'methods/mobile-phone',
    locals: { step, country: defaultCountry(), number: '', channel: channels()[0], channels: channels(), countries: countryOptions(ctx.locale), ...locals },
    error,
    errorVars,
  });

  async function send(ctx: MethodContext, country: string, number: string, channel: string): Promise<StepOutcome> {
    const allowed = channels();
    const chosen = allowed.find((c) => c === channel);
    if (!chosen) return { kind: 'page', page: page(ctx, 'number', { country, number }, 'phone.channel_unavailable') };
    const parsed = parsePhone(country, number);
    if (!parsed.ok) return { kind: 'page', page: page(ctx, 'number', { country, number: number.slice(0, 40), channel }, parsed.error) };
    const e164 = parsed.e164;
    const sent = await sendCode(deps, ctx.user.id, PURPOSE, e164, (code, minutes) =>
      deps.phone.send({
        to: e164,
        channel: chosen,
        text: chosen === 'sms' ? ctx.t('sms.code', { code, minutes, organisation: deps.config().ui.organisation }) : ctx.t('voice.code', { code: spaced(code), organisation: deps.config().ui.organisation }),
        locale: ctx.locale,
        userId: ctx.user.id,
        kind: `register.mobile_phone.${chosen}`,
      }),
      'phone',
    );
    if (!sent.ok) return { kind: 'page', page: page(ctx, 'number', { country, number, channel }, sent.error, sent.vars) };
    return { kind: 'page', page: page(ctx, 'code', { e164, channel, masked: maskPhone(e164) }) };
  }

  return {
    id: 'mobilePhone',
    async begin(ctx) {
      return page(ctx, 'number', {});
    },
    async step(ctx, step, form) {
      if (step === 'send') return send(ctx, form.country ?? '', form.number ?? '', form.channel ?? '');
      if (step === 'resend') return send(ctx, '', form.e164 ?? '', form.channel ?? '');
      if (step === 'verify') {
        const e164 = form.e164 ?? '';
        const checked = await checkCode(deps, ctx.user.id, PURPOSE, e164, form.code ?? '');
        if (!checked.ok) {
          return checked.restart
            ? { kind: 'page', page: page(ctx, 'number', { number: e164 }, checked.error, checked.vars) }
            : { kind: 'page', page: page(ctx, 'code', { e164, channel: form.channel, masked: maskPhone(e164) }, checked.error, checked.vars) };
        }
        const previous = await deps.store.sspr.putMethod(ctx.user.id, 'mobile_phone', checked.value, deps.clock.now());
        return { kind: 'registered', change: previous === undefined ? 'added' : 'changed', previous };
      }
      return { kind: 'page', page: page(ctx, 'number', {}, 'error.bad_request') };
    },
    summary(facts) {
      const stored = facts.methods.find((m) => m.kind === 'mobile_phone');
      return stored ? maskPhone(stored.value) : undefined;
    },
    remove(user) {
      return deps.store.sspr.deleteMethod(user.id, 'mobile_phone');
    },
  };
}
