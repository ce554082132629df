/** The store: knex repositories, the only place SQL lives. */
import type { Knex } from 'knex';
import { UserStore } from './users.ts';
import { OidcPayloadStore } from './oidc-payloads.ts';
import { KeyStore } from './keystore.ts';

export interface Store {
  readonly db: Knex;
  readonly users: UserStore;
  readonly oidc: OidcPayloadStore;
  readonly keys: KeyStore;
  /** Cheap round trip used by health checks. */
  ping(): Promise<void>;
}

export function createStore(db: Knex): Store {
  return {
    db,
    users: new UserStore(db),
    oidc: new OidcPayloadStore(db),
    keys: new KeyStore(db),
    async ping() {
      await db.raw('select 1');
    },
  };
}

export { DuplicateError } from './users.ts';
export type { User, UserStatus, PasswordSource, UserPatch } from './users.ts';
