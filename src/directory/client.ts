/**
 * The LDAP directory as the IdP uses it, on ldapts: searches and writes as the service account,
 * password checks as the user (a bind). Every filter is built from ldapts' filter classes
 * (EqualityFilter and the configured filter parsed by FilterParser): user input never becomes
 * filter text. Each call opens its own connection and closes it. No password is logged or kept.
 */
import { Client, AndFilter, EqualityFilter, FilterParser, Change, Attribute, BerWriter, type Entry } from 'ldapts';
import type { ConnectionOptions } from 'node:tls';
import type { DirectoryConfig } from '../config/directory-schema.ts';
import { DirectoryError, asServiceError, policyRefusal, resultCode, transportCause, LDAP } from './errors.ts';

export interface DirectoryEntry {
  dn: string;
  username: string;
  displayName?: string;
  mail?: string;
  mobile?: string;
  officePhone?: string;
  /** DNs of the user's groups, from the memberOf attribute (when configured). */
  memberOf: string[];
}

export interface DirectoryGroup {
  dn: string;
  name: string;
  members: string[];
}

/** ppolicy's pwdAccountLockedTime value for a lock set by an administrator (RFC draft behera-ldap-password-policy). */
const ADMIN_LOCK = '000001010000';

/** RFC 3062 LDAP Password Modify extended operation. */
export const PASSWORD_MODIFY_OID = '1.3.6.1.4.1.4203.1.11.1';

const first = (value: Entry[string] | undefined): string | undefined => {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined) return undefined;
  const text = Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
  return text.trim() === '' ? undefined : text;
};
const all = (value: Entry[string] | undefined): string[] => (value === undefined ? [] : (Array.isArray(value) ? value : [value]).map((v) => (Buffer.isBuffer(v) ? v.toString('utf8') : String(v))));

/**
 * Normalised DN for comparing (RFC 4514): RDNs split at unescaped commas, each value unescaped
 * (`\,` and `\2C` are the same comma, `\C3\AB` is ë), spaces around separators dropped, multi-valued
 * RDNs sorted, case and Unicode form folded. slapd hands back a DN as the entry's normalised form
 * and a member value as it was written, so both must come to the same key.
 */
export function dnKey(dn: string): string {
  const rdns: string[] = [];
  let avas: string[] = [];
  let type = '';
  let bytes: number[] = [];
  let inValue = false;
  let pendingSpaces = 0;
  const push = (text: string) => {
    for (let i = 0; i < pendingSpaces; i += 1) bytes.push(0x20);
    pendingSpaces = 0;
    bytes.push(...Buffer.from(text));
  };
  const endAva = () => {
    pendingSpaces = 0;
    avas.push(`${type.trim().toLowerCase()}=${Buffer.from(bytes).toString('utf8').normalize('NFC').toLowerCase()}`);
    type = '';
    bytes = [];
    inValue = false;
  };
  for (let i = 0; i < dn.length; i += 1) {
    const c = dn[i]!;
    if (!inValue) {
      if (c === '=') inValue = true;
      else type += c;
      continue;
    }
    if (c === '\\' && i + 1 < dn.length) {
      const hex = dn.slice(i + 1, i + 3);
      if (/^[0-9a-fA-F]{2}$/.test(hex)) {
        for (let k = 0; k < pendingSpaces; k += 1) bytes.push(0x20);
        pendingSpaces = 0;
        bytes.push(parseInt(hex, 16));
        i += 2;
      } else {
        push(dn[i + 1]!);
        i += 1;
      }
    } else if (c === ',' || c === ';' || c === '+') {
      endAva();
      if (c !== '+') {
        rdns.push(avas.sort().join('+'));
        avas = [];
      }
    } else if (c === ' ') {
      if (bytes.length) pendingSpaces += 1; // leading spaces dropped; trailing ones only if more follows
    } else push(c);
  }
  if (inValue || type.trim()) endAva();
  if (avas.length) rdns.push(avas.sort().join('+'));
  return rdns.join(',');
}

export class DirectoryClient {
  readonly #config: DirectoryConfig;
  readonly #tls: ConnectionOptions;

  constructor(config: DirectoryConfig, ca?: Buffer) {
    this.#config = config;
    this.#tls = { rejectUnauthorized: config.tls.rejectUnauthorized, ...(ca ? { ca } : {}) };
  }

  get config(): DirectoryConfig {
    return this.#config;
  }

  #client(): Client {
    return new Client({
      url: this.#config.url,
      connectTimeout: this.#config.timeouts.connectSeconds * 1000,
      timeout: this.#config.timeouts.operationSeconds * 1000,
      // ldapts speaks TLS whenever tlsOptions are given: only for ldaps://.
      ...(this.#config.url.startsWith('ldaps:') ? { tlsOptions: this.#tls } : {}),
      strictDN: false,
    });
  }

  /** Runs `work` on a connection bound as the service account; failures become DirectoryErrors. */
  async #asService<T>(work: (client: Client) => Promise<T>): Promise<T> {
    const client = this.#client();
    try {
      await client.bind(this.#config.bindDn, this.#config.bindPassword);
      return await work(client);
    } finally {
      await client.unbind().catch(() => {});
    }
  }

  async #service<T>(work: (client: Client) => Promise<T>): Promise<T> {
    try {
      return await this.#asService(work);
    } catch (error) {
      throw asServiceError(error);
    }
  }

  #userAttributes(): string[] {
    const a = this.#config.attributes;
    return [a.username, a.displayName, a.mail, a.mobile, a.officePhone, ...(a.memberOf ? [a.memberOf] : [])];
  }

  #toEntry(entry: Entry): DirectoryEntry | undefined {
    const a = this.#config.attributes;
    const username = first(entry[a.username]);
    if (!username) return undefined;
    return {
      dn: entry.dn,
      username,
      displayName: first(entry[a.displayName]),
      mail: first(entry[a.mail]),
      mobile: first(entry[a.mobile]),
      officePhone: first(entry[a.officePhone]),
      memberOf: a.memberOf ? all(entry[a.memberOf]) : [],
    };
  }

  /** Checks that the service account can bind and read the base DN. */
  async ping(): Promise<void> {
    await this.#service((client) => client.search(this.#config.baseDn, { scope: 'base', attributes: ['1.1'] }));
  }

  /**
   * The entries whose username attribute equals `username` exactly (an EqualityFilter: `*` and `(`
   * are matched as characters). More than one means the directory has duplicates: none is used.
   */
  async findUser(username: string): Promise<{ entry?: DirectoryEntry; duplicates: number }> {
    const filter = new AndFilter({ filters: [FilterParser.parseString(this.#config.userFilter), new EqualityFilter({ attribute: this.#config.attributes.username, value: username })] });
    const { searchEntries } = await this.#service((client) => client.search(this.#config.baseDn, { scope: 'sub', filter, attributes: this.#userAttributes(), sizeLimit: 2 }).catch((error: unknown) => {
      // sizeLimit 2 exceeded: more than one match.
      if (resultCode(error) === 4) return { searchEntries: [{}, {}] as Entry[] };
      throw error;
    }));
    if (searchEntries.length > 1) return { duplicates: searchEntries.length };
    const entry = searchEntries[0] ? this.#toEntry(searchEntries[0]) : undefined;
    return { entry, duplicates: 0 };
  }

  /** Pages of user entries (pageSize each): the whole directory never sits in memory. */
  async *users(): AsyncGenerator<{ entries: DirectoryEntry[]; skipped: string[] }> {
    const client = this.#client();
    try {
      try {
        await client.bind(this.#config.bindDn, this.#config.bindPassword);
      } catch (error) {
        throw asServiceError(error);
      }
      const pages = client.searchPaginated(this.#config.baseDn, {
        scope: 'sub',
        filter: this.#config.userFilter,
        attributes: this.#userAttributes(),
        paged: { pageSize: this.#config.pageSize },
      });
      for (;;) {
        let page;
        try {
          page = await pages.next();
        } catch (error) {
          throw asServiceError(error);
        }
        if (page.done) return;
        const entries: DirectoryEntry[] = [];
        const skipped: string[] = [];
        for (const raw of page.value.searchEntries) {
          const entry = this.#toEntry(raw);
          if (entry) entries.push(entry);
          else skipped.push(raw.dn);
        }
        yield { entries, skipped };
      }
    } finally {
      await client.unbind().catch(() => {});
    }
  }

  /** True when `dn` is under baseDn, exists and matches the user filter. */
  async isUser(dn: string): Promise<boolean> {
    const key = dnKey(dn);
    const base = dnKey(this.#config.baseDn);
    if (key !== base && !key.endsWith(`,${base}`)) return false;
    return this.#service(async (client) => {
      try {
        const { searchEntries } = await client.search(dn, { scope: 'base', filter: this.#config.userFilter, attributes: ['1.1'] });
        return searchEntries.length > 0;
      } catch (error) {
        if (resultCode(error) === LDAP.noSuchObject) return false;
        throw error;
      }
    });
  }

  /** Every group with its member DNs (paged). */
  async groups(): Promise<DirectoryGroup[]> {
    const a = this.#config.attributes;
    return this.#service(async (client) => {
      const found: DirectoryGroup[] = [];
      for await (const page of client.searchPaginated(this.#config.groupBaseDn ?? this.#config.baseDn, {
        scope: 'sub',
        filter: this.#config.groupFilter,
        attributes: [a.groupName, a.groupMember],
        paged: { pageSize: this.#config.pageSize },
      })) {
        for (const raw of page.searchEntries) {
          const name = first(raw[a.groupName]);
          if (name) found.push({ dn: raw.dn, name, members: all(raw[a.groupMember]).filter((m) => m.trim() !== '') });
        }
      }
      return found;
    });
  }

  /**
   * A password check by binding as the user. False for a wrong password or an account the
   * directory locked (ppolicy answers both with invalid credentials); a DirectoryError when the
   * directory can't be asked. An empty password is false without asking (it would be an
   * unauthenticated bind, which succeeds).
   */
  async verifyPassword(dn: string, password: string): Promise<boolean> {
    if (password === '') return false;
    const client = this.#client();
    try {
      await client.bind(dn, password);
      return true;
    } catch (error) {
      const rc = resultCode(error);
      if (rc === LDAP.invalidCredentials || rc === LDAP.noSuchObject || rc === LDAP.unwillingToPerform) return false;
      if (rc === undefined) throw new DirectoryError('unreachable', transportCause(error));
      throw new DirectoryError('misconfigured', `ldap_result_${rc}`);
    } finally {
      await client.unbind().catch(() => {});
    }
  }

  /**
   * Sets a user's password with the Password Modify extended operation (RFC 3062) as the service
   * account. The directory's policy applies: a refusal throws a DirectoryPolicyRefusal.
   */
  async setPassword(dn: string, password: string): Promise<void> {
    const value = new BerWriter();
    value.startSequence();
    value.writeString(dn, 0x80); // [0] userIdentity
    value.writeString(password, 0x82); // [2] newPasswd
    value.endSequence();
    try {
      await this.#asService((client) => client.exop(PASSWORD_MODIFY_OID, value.buffer));
    } catch (error) {
      const refusal = policyRefusal(error);
      if (refusal) throw refusal;
      throw asServiceError(error);
    }
  }

  /**
   * ppolicy's lock on the account: `failures` when failed binds locked it (pwdAccountLockedTime
   * set), `administrator` for the administrative lock (the value 000001010000Z, which only an
   * administrator may lift), `none` otherwise.
   */
  async lockState(dn: string): Promise<'none' | 'failures' | 'administrator'> {
    const { searchEntries } = await this.#service((client) => client.search(dn, { scope: 'base', attributes: ['pwdAccountLockedTime'] }));
    const locked = first(searchEntries[0]?.pwdAccountLockedTime);
    if (locked === undefined) return 'none';
    return locked.startsWith(ADMIN_LOCK) ? 'administrator' : 'failures';
  }

  /** True when ppolicy locked the account after failed binds (not the administrative lock). */
  async isLocked(dn: string): Promise<boolean> {
    return (await this.lockState(dn)) === 'failures';
  }

  /**
   * Ends a ppolicy lockout after failed binds: removes pwdAccountLockedTime, and ppolicy drops the
   * failure times with it (the next wrong password does not lock again at once). Nothing to do when
   * not locked; the administrative lock is never lifted here (DIRECTORY_LOCKED_BY_ADMIN).
   */
  async unlock(dn: string): Promise<void> {
    await this.#service(async (client) => {
      const { searchEntries } = await client.search(dn, { scope: 'base', attributes: ['pwdAccountLockedTime'] });
      const locked = first(searchEntries[0]?.pwdAccountLockedTime);
      if (locked === undefined) return;
      if (locked.startsWith(ADMIN_LOCK)) throw new DirectoryError('locked_by_admin', 'administrative_lock');
      await client.modify(dn, new Change({ operation: 'delete', modification: new Attribute({ type: 'pwdAccountLockedTime' }) }));
    });
  }
}
