/**
 * Configuration of self-service password reset (policy, methods, questions, codes) and of message
 * delivery. Part of the single configuration schema (see schema.ts).
 */
import { z } from 'zod';
import { customQuestionId, predefinedQuestions } from '../methods/security-questions/questions.ts';
import { restartOnly } from './restart.ts';
import { methodList } from '../methods/ids.ts';
import { int, section } from './builders.ts';

const groupList = z.array(z.string().min(1).max(256)).default([]);

const mobilePhone = z
  .union([
    z.boolean(),
    z.strictObject({
      sms: z.boolean().default(true).describe('Codes by text message.'),
      voice: z.boolean().default(true).describe('Codes read out by a phone call.'),
    }),
  ])
  .default(true)
  .transform((value) => (typeof value === 'boolean' ? { enabled: value, sms: value, voice: value } : { enabled: value.sms || value.voice, ...value }))
  .describe('Authentication mobile phone: true, false, or { sms, voice } to choose the channels.');

const andList = (items: readonly string[]) => (items.length > 1 ? `${items.slice(0, -1).join(', ')} and ${items.at(-1)}` : (items[0] ?? ''));
const orList = (items: readonly string[]) => (items.length > 1 ? `${items.slice(0, -1).join(', ')} or ${items.at(-1)}` : (items[0] ?? ''));

const methods = section('Which recovery methods users may register', {
  email: z.boolean().default(true).describe('Authentication email address (a code is mailed to it).'),
  mobilePhone,
  officePhone: z.boolean().default(false).describe('Office phone, set by an administrator; called at reset.'),
  authenticatorApp: z.boolean().default(true).describe('Authenticator app (TOTP). Never enough on its own.'),
  securityQuestions: z.boolean().default(false).describe('Security questions. Never available to administrators.'),
  passkey: z
    .boolean()
    .default(false)
    .describe(
      'Passkeys (WebAuthn): sign in without a password, a second factor, and a recovery method (counts only together with another, like the authenticator app). The relying-party ID is the host of server.issuer, which must then be https, or http://localhost.',
    ),
});

const questionText = z.string().trim().min(5).max(200, 'must be at most 200 characters');

const customQuestion = z.union([
  questionText,
  z.strictObject({
    id: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be lower-case letters, digits and dashes')
      .optional()
      .describe('Stable id (answers are matched by id); derived from the English text when left out.'),
    en: questionText.describe('English text.'),
    nl: questionText.optional().describe('Dutch text; the English text is shown when left out.'),
  }),
]);

const securityQuestions = section('Security questions', {
  numberToRegister: int(3, 3, 5, 'Questions a user answers when registering.'),
  numberToReset: int(3, 3, 5, 'Questions asked at reset, drawn at random from those registered.'),
  predefined: z.boolean().default(true).describe('Offer the questions shipped with the product (English and Dutch).'),
  custom: z.array(customQuestion).max(100).default([]).describe('Your own questions: a text, or { id, en, nl }.'),
})
  .superRefine((q, ctx) => {
    if (q.numberToReset > q.numberToRegister) {
      ctx.addIssue({ code: 'custom', path: ['numberToReset'], message: `must not be greater than numberToRegister (${q.numberToRegister})` });
    }
    // A question offered twice (same id, or the same English text) is a mistake to report, not to drop.
    const sameText = (text: string) => text.normalize('NFC').replace(/\s+/g, ' ').trim().toLowerCase();
    const seen: { id: string; text: string; where: string }[] = q.predefined
      ? predefinedQuestions.map((p) => ({ id: p.id, text: sameText(p.en), where: `the predefined question "${p.id}"` }))
      : [];
    q.custom.forEach((custom, i) => {
      const en = typeof custom === 'string' ? custom : custom.en;
      const id = typeof custom === 'string' ? customQuestionId(custom) : (custom.id ?? customQuestionId(custom.en));
      const text = sameText(en);
      const earlier = seen.find((s) => s.id === id || s.text === text);
      if (earlier) {
        ctx.addIssue({ code: 'custom', path: ['custom', i], message: `duplicates ${earlier.where} (${earlier.id === id ? `same id "${id}"` : 'same text'})` });
      }
      seen.push({ id, text, where: `sspr.securityQuestions.custom.${i}` });
    });
  });

const registration = section('Registration at sign-in', {
  requireOnSignIn: z.boolean().default(true).describe('Interrupt sign-in for users in scope who have not registered enough methods.'),
  reconfirmAfterDays: int(180, 0, 730, 'Ask users to reconfirm their methods after this many days; 0 = never.'),
  maxSkips: z
    .number()
    .int()
    .min(0)
    .max(100)
    .nullable()
    .default(null)
    .describe('How often a user may choose "not now" before registration becomes mandatory; null = unlimited, 0 = never.'),
});

const codes = section('One-time codes sent by email, text or call', {
  length: int(8, 6, 10, 'Digits in a one-time code.'),
  ttlMinutes: int(10, 1, 10, 'Minutes a code stays valid.'),
  maxAttempts: int(5, 1, 5, 'Wrong entries before a code is void (at most 5).'),
  maxSends: int(3, 1, 10, 'Codes sent to one address for one purpose within the validity window.'),
  resendAfterSeconds: int(30, 0, 600, 'Seconds before another code may be sent.'),
});

const captcha = section('CAPTCHA on "Can\'t access your account?"', {
  enabled: z.boolean().default(true).describe('Ask for a self-hosted proof-of-work CAPTCHA (ALTCHA) before the reset flow starts.'),
  maxNumber: int(100_000, 1000, 10_000_000, 'Proof-of-work difficulty: the largest number a browser may have to try (about 0.1–1 s at the default).'),
  expireMinutes: int(10, 1, 60, 'Minutes a CAPTCHA challenge stays solvable.'),
});

const helpdesk = section('Where users who cannot reset are sent', {
  email: z
    .array(z.email({ error: 'must be an email address' }))
    .max(100)
    .default([])
    .describe('Who "contact an administrator" mails; when empty, the members of the administrator groups (at most 100).'),
  url: z
    .string()
    .regex(/^(https:\/\/|http:\/\/|mailto:)/, 'must start with https://, http:// or mailto:')
    .max(2000)
    .optional()
    .describe('A helpdesk link that replaces "contact an administrator".'),
});

const onPremises = section('Passwords managed on-premises, and unlocking', {
  passwordWriteback: z.boolean().default(false).describe('Let users whose password is managed on-premises reset it (through the password-writeback interface).'),
  allowUnlockWithoutReset: z.boolean().default(true).describe('A locked-out user may just unlock the account, without choosing a new password.'),
});

const notifications = section('Notifications after a reset', {
  userOnReset: z.boolean().default(true).describe('Email users when their password was reset.'),
  adminsOnAdminReset: z.boolean().default(true).describe('Email the other administrators when an administrator resets their password.'),
});

export const passwordPolicySchema = section('Rules for new passwords', {
  minLength: int(8, 8, 256, 'Fewest characters in a new password.'),
  maxLength: int(256, 8, 1024, 'Most characters in a new password.'),
  builtInList: z.boolean().default(true).describe('Refuse passwords from the shipped list of common and breached passwords.'),
  bannedTerms: z.array(z.string().min(3).max(100)).max(1000).default([]).describe('Your own banned words (company and product names...); matched after undoing common substitutions.'),
})
  .superRefine((p, ctx) => {
    if (p.minLength > p.maxLength) ctx.addIssue({ code: 'custom', path: ['minLength'], message: 'must not be greater than maxLength' });
  });

const limits = section('SSPR limits per account (Entra\'s published numbers as defaults); exceeding one blocks the account from SSPR', {
  phonePerHour: int(5, 1, 100, 'Phone validations, texts and calls per account per hour.'),
  questionsPerHour: int(5, 1, 100, 'Security-question attempts per account per hour.'),
  resetsPerDay: int(5, 1, 100, 'Reset attempts (flows started) per account per 24 hours.'),
  emailsPer10Minutes: int(10, 1, 100, 'Emails with codes per account per 10 minutes.'),
  blockHours: int(24, 1, 168, 'Hours an account is blocked from SSPR after exceeding a limit.'),
});

export const lockoutSchema = section('Sign-in lockout per account', {
  threshold: int(10, 1, 100, 'Consecutive failed sign-ins that lock the account.'),
  durationSeconds: int(60, 1, 86_400, 'How long the first lockout lasts.'),
  growth: z.number().min(1).max(10).default(2).describe('Each further lockout lasts this many times longer.'),
  maxDurationSeconds: int(3600, 1, 7 * 86_400, 'The longest a lockout can last.'),
})
  .superRefine((l, ctx) => {
    if (l.maxDurationSeconds < l.durationSeconds) ctx.addIssue({ code: 'custom', path: ['maxDurationSeconds'], message: 'must not be less than durationSeconds' });
  });

export const throttleSchema = section('Throttling per IP address and per client; counters are kept in the database, shared by every instance', {
  signinPerIp: int(100, 1, 100_000, 'Failed sign-ins allowed from one IP address per window, across accounts (password spraying).'),
  signinWindowSeconds: int(900, 1, 86_400, 'Window of signinPerIp.'),
  resetPerIp: int(50, 1, 100_000, 'Reset flows one IP address may start per window.'),
  resetWindowSeconds: int(3600, 1, 86_400, 'Window of resetPerIp.'),
  clientAuthPerClient: int(20, 1, 100_000, 'Failed client authentications (wrong client secret) allowed per client id per window at the token, introspection and revocation endpoints; past it even the right secret gets 429 until the window ends.'),
  clientAuthPerIp: int(50, 1, 100_000, 'Failed client authentications allowed from one IP address per window, across clients.'),
  clientAuthWindowSeconds: int(300, 1, 86_400, 'Window of clientAuthPerClient and clientAuthPerIp.'),
});

export const auditSchema = section('Audit trail', {
  retentionDays: int(365, 1, 3650, 'Days audit events are kept before the purge job deletes them.'),
});

export const ssprSchema = section('Self-service password reset', {
  enabled: z.enum(['none', 'selected', 'all']).default('none').describe('Who may use self-service password reset: nobody, members of `groups`, or everyone.'),
  groups: groupList.describe('With enabled: selected, members of these groups (case-insensitive).'),
  methodsRequired: z.literal([1, 2]).default(1).describe('Methods a user must register, and prove at reset.'),
  methods,
  securityQuestions,
  registration,
  administrators: section('Administrators', { groups: groupList.describe('Members always need two methods and cannot use security questions.') }),
  codes,
  captcha,
  helpdesk,
  onPremises,
  notifications,
  limits,
  resetFlowMinutes: int(15, 5, 60, 'Minutes a password reset may take from start to finish.'),
  defaultCountry: z
    .string()
    .regex(/^[A-Z]{2}$/, 'must be a two-letter ISO 3166 country code in capitals')
    .default('NL')
    .describe('Country preselected for phone numbers typed without +country code.'),
  secretsKey: restartOnly(
    z
      .string()
      .regex(/^[A-Za-z0-9_-]{43}$/, 'must be 32 random bytes, base64url (43 characters)')
      .optional()
      .describe('Key that encrypts authenticator secrets at rest; generated and kept in the database when left out.'),
  ),
})
  .superRefine((s, ctx) => {
    if (s.enabled === 'selected' && s.groups.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['groups'], message: 'must name at least one group when enabled is selected' });
    }
    const m = s.methods;
    const offered = methodList.filter((method) => method.offered(m));
    const standalone = offered.filter((method) => method.countsAlone).length;
    if (s.enabled !== 'none' && (offered.length < s.methodsRequired || standalone < 1)) {
      const notAlone = methodList.filter((method) => !method.countsAlone).map((method) => method.noun);
      ctx.addIssue({
        code: 'custom',
        path: ['methods'],
        message: `must offer at least ${s.methodsRequired} method(s), at least one of them other than ${orList(notAlone)}`,
      });
    }
    // Administrators always need two methods, and some (security questions) never count for them.
    const forAdmins = offered.filter((method) => method.allowedForAdmins).length;
    if (s.enabled !== 'none' && s.administrators.groups.length > 0 && forAdmins < 2) {
      const allowed = methodList.filter((method) => method.allowedForAdmins).map((method) => method.id);
      const barred = methodList.filter((method) => !method.allowedForAdmins).map((method) => method.noun);
      ctx.addIssue({
        code: 'custom',
        path: ['administrators', 'groups'],
        message: `administrators need two methods, but sspr.methods offers them only ${forAdmins} (${orList(barred)} don't count for administrators): offer two of ${andList(allowed)}, or leave the groups empty`,
      });
    }
    const q = s.securityQuestions;
    if (s.enabled !== 'none' && m.securityQuestions && !q.predefined && q.custom.length < q.numberToRegister) {
      ctx.addIssue({
        code: 'custom',
        path: ['securityQuestions', 'custom'],
        message: `must hold at least numberToRegister (${q.numberToRegister}) questions when predefined is false; it has ${q.custom.length}`,
      });
    }
  });

const mail = section('Email delivery', {
  transport: z.enum(['outbox', 'smtp']).default('outbox').describe('outbox: keep messages in the database (see `oidc-sspr outbox`); smtp: send them.'),
  from: z.string().min(3).max(320).default('oidc-sspr <no-reply@localhost>').describe('Sender address.'),
  smtp: section('SMTP settings (transport: smtp)', {
    host: z.string().min(1).default('localhost').describe('SMTP server.'),
    port: int(587, 1, 65535, 'SMTP port.'),
    secure: z.boolean().default(false).describe('TLS from the start (port 465); otherwise STARTTLS when offered.'),
    requireTLS: z.boolean().default(false).describe('Refuse to send unless STARTTLS succeeds.'),
    user: z.string().optional().describe('Login name.'),
    pass: z.string().optional().describe('Password; use ${ENV_VAR}.'),
    timeoutSeconds: int(15, 1, 120, 'Connection and greeting timeout.'),
  }),
});

const phone = section('Text message and voice call delivery', {
  transport: z.enum(['outbox', 'webhook']).default('outbox').describe('outbox: keep messages in the database; webhook: POST them to your SMS/voice gateway.'),
  webhook: section('Webhook settings (transport: webhook)', {
    url: z.url({ protocol: /^https?$/, error: 'must be an absolute http(s) URL' }).optional().describe('Endpoint receiving { to, channel, text, locale } as JSON.'),
    secret: z.string().min(16).optional().describe('HMAC-SHA256 key for the X-Signature header; use ${ENV_VAR}.'),
    timeoutMs: int(5000, 100, 30000, 'Per attempt.'),
    retries: int(2, 0, 5, 'Extra attempts after a failure, with backoff.'),
  }),
})
  .superRefine((p, ctx) => {
    if (p.transport === 'webhook') {
      if (!p.webhook.url) ctx.addIssue({ code: 'custom', path: ['webhook', 'url'], message: 'is required when transport is webhook' });
      if (!p.webhook.secret) ctx.addIssue({ code: 'custom', path: ['webhook', 'secret'], message: 'is required when transport is webhook' });
    }
  });

export const deliverySchema = section('How codes and notifications reach users', { mail, phone })
  .superRefine((d, ctx) => {
    if (d.mail.transport === 'smtp' && Boolean(d.mail.smtp.user) !== Boolean(d.mail.smtp.pass)) {
      ctx.addIssue({ code: 'custom', path: ['mail', 'smtp', 'pass'], message: 'user and pass go together' });
    }
  });

export type SsprConfig = z.infer<typeof ssprSchema>;
export type PasswordPolicyConfig = z.infer<typeof passwordPolicySchema>;
export type DeliveryConfig = z.infer<typeof deliverySchema>;
