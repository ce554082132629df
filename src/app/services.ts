/**
 * The IdP's services, built from the configuration and the store: passwords and sign-in, the
 * directory, deliveries, methods, registration, MFA and recovery. Nothing here knows Koa.
 */
import type { Config } from '../config/schema.ts';
import type { LiveConfig } from '../config/live.ts';
import type { Store } from '../store/index.ts';
import type { Logger } from '../logging.ts';
import type { Clock } from '../clock.ts';
import { createClientSource } from '../oidc/clients.ts';
import { createKnexAdapter, type AdapterClass } from '../oidc/adapter.ts';
import { createPasswordHasher, type Argon2Functions, type Argon2Hasher } from '../security/password.ts';
import { loadSecretsKey, secretKeys, createSecretBox, deriveKey } from '../security/secrets.ts';
import { Captcha, CAPTCHA_KEY_LABEL } from '../security/captcha.ts';
import type { Throttle } from '../security/throttle.ts';
import { OneTimeCodes } from '../security/codes.ts';
import { UserService } from '../users/service.ts';
import { LoginService } from '../flows/login/service.ts';
import { PasswordSignIn } from '../flows/sign-in.ts';
import { RegistrationService } from '../flows/register/service.ts';
import { RecoveryService } from '../flows/recover/service.ts';
import { ResetGate } from '../flows/recover/gate.ts';
import { StandingService } from '../sspr/standing.ts';
import { RememberedDevices } from '../mfa/devices.ts';
import type { MfaGate } from '../oidc/policy.ts';
import { meteredDelivery, meteredThrottle, type Metrics } from '../metrics/index.ts';
import { HelpdeskRequests } from '../flows/recover/helpdesk.ts';
import { createMailDelivery, createPhoneDelivery, type Channels, type MailDelivery, type PhoneDelivery } from '../delivery/index.ts';
import { createMethodRegistry, createChallenges } from '../methods/registry.ts';
import type { MethodDeps } from '../methods/types.ts';
import { MfaService } from '../mfa/service.ts';
import { ChangeNotifier } from '../sspr/notify.ts';
import { createDirectoryRuntime, directoryPasswordCheck, type DirectoryRuntime } from '../directory/runtime.ts';
import { LdapPasswordWriteback, type PasswordWriteback } from '../directory/writeback.ts';

export interface ServiceOptions {
  cwd?: string;
  writeback?: PasswordWriteback;
  argon2?: Argon2Functions;
  channels?: Partial<Channels>;
}

export interface Services {
  hasher: Argon2Hasher;
  directory: DirectoryRuntime | undefined;
  users: UserService;
  isFirstParty(clientId: string): boolean;
  adapter: AdapterClass;
  throttle: Throttle;
  passwordSignIn: PasswordSignIn;
  login: LoginService;
  mail: MailDelivery;
  phone: PhoneDelivery;
  methodDeps: MethodDeps;
  registration: RegistrationService;
  mfa: MfaService;
  helpdesk: HelpdeskRequests;
  recovery: RecoveryService;
  captcha: Captcha;
  standing: StandingService;
  devices: RememberedDevices;
  /** The multi-factor policy and remembered devices, as the interaction policy asks them. */
  mfaGate: MfaGate;
}

export async function createServices(config: Config, live: LiveConfig, core: { store: Store; clock: Clock; log: Logger; metrics: Metrics | undefined }, options: ServiceOptions): Promise<Services> {
  const { store, clock, log, metrics } = core;
  const hasher = createPasswordHasher(() => live.current.passwords.argon2, options.argon2);
  // The dummy hash for unknown users exists before the first sign-in, for every parameter set.
  await hasher.prepare();
  live.onChange(() => {
    hasher.prepare().catch((error: unknown) => log.error({ err: error }, 'computing the dummy password hash failed'));
  });
  const directory = await createDirectoryRuntime(config, { store, clock, log, cwd: options.cwd, country: () => live.current.sspr.defaultCountry });
  const users = new UserService(store, hasher, clock, () => live.current.lockout, directory && directoryPasswordCheck(store, directory.client));
  const clients = createClientSource(() => live.current.clients, config.oidc.signingAlgorithm);
  const isFirstParty = (clientId: string) => clients.get(clientId)?.firstParty === true;
  const adapter = createKnexAdapter(store.oidc, clock, clients);
  const throttle = meteredThrottle(store.throttle, clock, metrics);
  const passwordSignIn = new PasswordSignIn({
    users,
    log,
    audit: store.audit,
    clock,
    throttle,
    limit: () => ({ points: live.current.throttle.signinPerIp, windowSeconds: live.current.throttle.signinWindowSeconds }),
  });
  const login = new LoginService({ signIn: passwordSignIn, isFirstParty });

  const master = await loadSecretsKey(store.keys, config.sspr.secretsKey, clock);
  const derived = secretKeys(master);
  const box = createSecretBox(derived.secretBox);
  const codes = new OneTimeCodes(store.sspr, clock, () => derived.codePepper, () => live.current.sspr.codes);
  const { mail: hostMail, ...hostPhone } = options.channels ?? {};
  const mail = meteredDelivery(createMailDelivery({ config: () => live.current.delivery.mail, outbox: store.outbox, log, clock, channel: hostMail }), metrics);
  const phone = meteredDelivery(createPhoneDelivery({ config: () => live.current.delivery.phone, outbox: store.outbox, log, clock, channels: hostPhone }), metrics);
  const methodDeps: MethodDeps = {
    config: () => live.current,
    store,
    clock,
    codes,
    throttle,
    hasher,
    mail,
    phone,
    seal: (plain: string) => box.seal(plain),
    open: (sealed: string) => box.open(sealed),
  };
  const methods = createMethodRegistry(methodDeps);
  const notifier = new ChangeNotifier(mail, log, () => live.current.ui.organisation);
  const standing = new StandingService({ store, config: () => live.current, clock });
  const registration = new RegistrationService({ store, config: () => live.current, clock, methods, notifier, standing });
  const writeback = options.writeback ?? (directory && config.directory?.mode === 'writable' ? new LdapPasswordWriteback(store, directory.client, { log, clock }) : undefined);
  if (config.sspr.onPremises.passwordWriteback && !writeback) {
    log.warn(
      { key: 'sspr.onPremises.passwordWriteback' },
      'sspr.onPremises.passwordWriteback is on but no PasswordWriteback was passed to createIdp/createIdpParts: on-premises accounts are refused at "Can\'t access your account?" (SSPR_WRITEBACK_UNAVAILABLE)',
    );
  }
  const mfa = new MfaService(methodDeps);
  const devices = new RememberedDevices({ store, clock, config: () => live.current });
  const mfaGate: MfaGate = {
    required: (accountId) => mfa.required(accountId),
    remembered: async (accountId, token, request) => (await devices.check(token, accountId, request)) === 'remembered',
  };
  const captcha = new Captcha({ store: store.captcha, clock, key: deriveKey(master, CAPTCHA_KEY_LABEL), config: () => live.current.sspr.captcha });
  const helpdesk = new HelpdeskRequests({ store, config: () => live.current, clock, mail, log });
  const recovery = new RecoveryService({
    store,
    config: () => live.current,
    clock,
    users,
    standing,
    challenges: createChallenges(methodDeps),
    hasher,
    mail,
    log,
    throttle,
    helpdesk,
    gate: new ResetGate({ throttle, captcha, config: () => live.current }),
    writeback,
  });
  return { hasher, directory, users, isFirstParty, adapter, throttle, passwordSignIn, login, mail, phone, methodDeps, registration, mfa, helpdesk, recovery, captcha, standing, devices, mfaGate };
}
