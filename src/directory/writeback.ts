/**
 * Password writeback to the directory (`directory.mode: writable` with
 * `sspr.onPremises.passwordWriteback`): the PasswordWriteback a host would otherwise pass, done
 * with the LDAP Password Modify extended operation (RFC 3062) as the service account. A ppolicy
 * refusal throws DirectoryPolicyRefusal (the reset shows it and can be tried again); the directory
 * unreachable or refusing the service account throws a DirectoryError.
 */
import type { Store } from '../store/index.ts';
import type { PasswordWriteback } from '../flows/recover/service.ts';
import { DirectoryError } from './errors.ts';
import type { DirectoryClient } from './client.ts';

export class LdapPasswordWriteback implements PasswordWriteback {
  readonly #store: Store;
  readonly #client: DirectoryClient;
  constructor(store: Store, client: DirectoryClient) {
    this.#store = store;
    this.#client = client;
  }

  async #dn(userId: string): Promise<string> {
    const dn = await this.#store.directory.dnOf(userId);
    if (!dn) throw new DirectoryError('misconfigured', 'user_not_from_directory');
    return dn;
  }

  async setPassword(user: { id: string; username: string }, newPassword: string): Promise<void> {
    const dn = await this.#dn(user.id);
    await this.#client.setPassword(dn, newPassword);
    // A reset unlocks too.
    await this.#client.unlock(dn);
  }

  async unlock(user: { id: string; username: string }): Promise<void> {
    await this.#client.unlock(await this.#dn(user.id));
  }
}
