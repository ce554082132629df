/** The store: knex repositories, the only place SQL lives. */
import type { Knex } from 'knex';
import { UserStore } from './users.ts';
import { OidcPayloadStore } from './oidc-payloads.ts';
import { KeyStore } from './keystore.ts';
import { SsprStore } from './sspr.ts';
import { OutboxStore } from './outbox.ts';
import { AuditStore } from './audit.ts';
import { AccountSessionStore } from './account-sessions.ts';
import { CaptchaStore } from './captcha.ts';
import { ResetStore } from './reset.ts';
import { ReportStore } from './reports.ts';
import { ThrottleStore } from './throttle.ts';
import { DirectoryStore } from './directory.ts';
import { MfaDeviceStore } from './mfa-devices.ts';
import { PasskeyStore } from './passkeys.ts';

export interface Store {
  readonly db: Knex;
  readonly users: UserStore;
  readonly oidc: OidcPayloadStore;
  readonly keys: KeyStore;
  readonly sspr: SsprStore;
  readonly outbox: OutboxStore;
  readonly audit: AuditStore;
  readonly accountSessions: AccountSessionStore;
  readonly captcha: CaptchaStore;
  readonly reset: ResetStore;
  readonly reports: ReportStore;
  readonly throttle: ThrottleStore;
  readonly directory: DirectoryStore;
  readonly mfaDevices: MfaDeviceStore;
  readonly passkeys: PasskeyStore;
  /** Cheap round trip used by health checks. */
  ping(): Promise<void>;
}

export function createStore(db: Knex): Store {
  return {
    db,
    users: new UserStore(db),
    oidc: new OidcPayloadStore(db),
    keys: new KeyStore(db),
    sspr: new SsprStore(db),
    outbox: new OutboxStore(db),
    audit: new AuditStore(db),
    accountSessions: new AccountSessionStore(db),
    captcha: new CaptchaStore(db),
    reset: new ResetStore(db),
    reports: new ReportStore(db),
    throttle: new ThrottleStore(db),
    directory: new DirectoryStore(db),
    mfaDevices: new MfaDeviceStore(db),
    passkeys: new PasskeyStore(db),
    async ping() {
      if (db.client.config.client === 'sqlite3') {
        // `select 1` never touches a SQLite file, and in WAL mode reads go on while another
        // process holds the write lock, yet no sign-in can succeed then: a write that changes
        // nothing takes (and waits busy_timeout for) the write lock, and fails while it is held.
        await db.raw('delete from oidc_payloads where 0');
        return;
      }
      await db.raw('select 1');
    },
  };
}

export { DuplicateError } from './users.ts';
export type { User, UserStatus, PasswordSource, UserPatch } from './users.ts';
export type { StoredMethod, StoredMethodKind, StoredAnswer, RegistrationState, Challenge } from './sspr.ts';
export type { OutboxMessage } from './outbox.ts';
export type { AuditEvent, StoredAuditEvent } from './audit.ts';
