/** What the directory sync (src/directory/sync.ts) reads and writes: the only place its SQL lives. */
import { randomUUID } from 'node:crypto';
import { revokeAccountIn } from './oidc-payloads.ts';
import { Repository } from './repository.ts';

export interface LocalDirectoryUser {
  id: string;
  username: string;
  usernameKey: string;
  directoryDn: string | null;
  status: 'enabled' | 'disabled';
  /** True when the sync disabled the user (gone from the directory), not an administrator. */
  disabledBySync: boolean;
  passwordSource: 'cloud' | 'onpremises';
  displayName: string;
  email: string | null;
}

export type DirectoryMethodKind = 'mobile_phone' | 'office_phone';

export interface LocalMethod {
  kind: string;
  value: string;
  setBy: string | null;
}

interface Row {
  id: string;
  username: string;
  username_key: string;
  directory_dn: string | null;
  status: string;
  disabled_by: string | null;
  password_source: string;
  display_name: string;
  email: string | null;
}

const toLocal = (r: Row): LocalDirectoryUser => ({
  id: r.id,
  username: r.username,
  usernameKey: r.username_key,
  directoryDn: r.directory_dn,
  status: r.status === 'disabled' ? 'disabled' : 'enabled',
  disabledBySync: r.status === 'disabled' && r.disabled_by === 'directory',
  passwordSource: r.password_source === 'onpremises' ? 'onpremises' : 'cloud',
  displayName: r.display_name,
  email: r.email,
});

const COLUMNS = ['id', 'username', 'username_key', 'directory_dn', 'status', 'disabled_by', 'password_source', 'display_name', 'email'];

export class DirectoryStore extends Repository {
  /** The local users with these username keys (one page of a sync). */
  async byKeys(keys: string[]): Promise<Map<string, LocalDirectoryUser>> {
    const found = new Map<string, LocalDirectoryUser>();
    for (let i = 0; i < keys.length; i += 500) {
      const rows = await this.db<Row>('users').whereIn('username_key', keys.slice(i, i + 500)).select<Row[]>(COLUMNS);
      for (const r of rows) found.set(r.username_key, toLocal(r));
    }
    return found;
  }

  /** Users that came from the directory, ordered by username key, after `afterKey` (paging). */
  async fromDirectory(afterKey: string, limit: number): Promise<LocalDirectoryUser[]> {
    const rows = await this.db<Row>('users').whereNotNull('directory_dn').andWhere('username_key', '>', afterKey).orderBy('username_key').limit(limit).select<Row[]>(COLUMNS);
    return rows.map(toLocal);
  }

  /** DN in the directory of a local user; undefined for users created here. */
  async dnOf(userId: string): Promise<string | undefined> {
    const row = await this.db('users').where({ id: userId }).first<{ directory_dn: string | null } | undefined>('directory_dn');
    return row?.directory_dn ?? undefined;
  }

  /** Links a local user to its directory entry, with the directory's name and mail (the status is left alone). */
  async link(userId: string, fields: { dn: string; displayName: string; email: string | null }, now: number): Promise<void> {
    await this.db('users').where({ id: userId }).update({
      directory_dn: fields.dn,
      display_name: fields.displayName,
      email: fields.email,
      password_source: 'onpremises',
      password_hash: null,
      updated_at: now,
    });
  }

  /** Disables a user gone from the directory, marked as done by the sync, and ends its sessions and tokens (one transaction). */
  async disableGone(userId: string, now: number): Promise<void> {
    await this.db.transaction(async (trx) => {
      await trx('users').where({ id: userId, status: 'enabled' }).update({ status: 'disabled', disabled_by: 'directory', updated_at: now });
      await revokeAccountIn(trx, userId);
    });
  }

  /** Enables a user back in the directory, only when the sync disabled it (an administrator's disable holds); true when it did. */
  async enableReturned(userId: string, now: number): Promise<boolean> {
    return (await this.db('users').where({ id: userId, status: 'disabled', disabled_by: 'directory' }).update({ status: 'enabled', disabled_by: null, updated_at: now })) > 0;
  }

  async methodsOf(userIds: string[]): Promise<Map<string, LocalMethod[]>> {
    const found = new Map<string, LocalMethod[]>();
    for (let i = 0; i < userIds.length; i += 500) {
      const rows = await this.db('sspr_methods')
        .whereIn('user_id', userIds.slice(i, i + 500))
        .whereIn('kind', ['mobile_phone', 'office_phone'])
        .select<{ user_id: string; kind: string; value: string; set_by: string | null }[]>('user_id', 'kind', 'value', 'set_by');
      for (const r of rows) found.set(r.user_id, [...(found.get(r.user_id) ?? []), { kind: r.kind, value: String(r.value), setBy: r.set_by }]);
    }
    return found;
  }

  /** A number the directory holds for the user, marked as set by it. */
  async putDirectoryMethod(userId: string, kind: DirectoryMethodKind, value: string, now: number): Promise<void> {
    await this.db('sspr_methods')
      .insert({ id: randomUUID(), user_id: userId, kind, slot: '', value, verified_at: now, created_at: now, updated_at: now, set_by: 'directory' })
      .onConflict(['user_id', 'kind', 'slot'])
      .merge({ value, verified_at: now, updated_at: now, set_by: 'directory' });
  }

  /** Removes a number only when the directory set it (one the user registered stays). */
  async deleteDirectoryMethod(userId: string, kind: DirectoryMethodKind): Promise<void> {
    await this.db('sspr_methods').where({ user_id: userId, kind, slot: '', set_by: 'directory' }).delete();
  }

  /** True when the directory set this method of the user. */
  async isDirectoryMethod(userId: string, kind: string): Promise<boolean> {
    const row = await this.db('sspr_methods').where({ user_id: userId, kind, slot: '' }).first<{ set_by: string | null } | undefined>('set_by');
    return row?.set_by === 'directory';
  }

  /** Name keys of each user's groups: those the directory gave, and those an administrator added here. */
  async groupKeysOf(userIds: string[]): Promise<Map<string, { directory: string[]; local: string[] }>> {
    const found = new Map<string, { directory: string[]; local: string[] }>();
    for (let i = 0; i < userIds.length; i += 500) {
      const rows = await this.db('user_groups')
        .join('groups', 'groups.id', 'user_groups.group_id')
        .whereIn('user_groups.user_id', userIds.slice(i, i + 500))
        .select<{ user_id: string; name_key: string; set_by: string | null }[]>('user_groups.user_id', 'groups.name_key', 'user_groups.set_by');
      for (const r of rows) {
        const keys = found.get(r.user_id) ?? { directory: [], local: [] };
        (r.set_by === 'directory' ? keys.directory : keys.local).push(r.name_key);
        found.set(r.user_id, keys);
      }
    }
    return found;
  }

  /**
   * The user's directory groups become exactly these. Memberships an administrator added here
   * (`users add-group`) stay; a group both give stays the administrator's (it outlives the directory's).
   */
  async setGroups(userId: string, groups: { name: string; key: string }[], now: number): Promise<void> {
    await this.db.transaction(async (trx) => {
      if (groups.length) {
        await trx('groups').insert(groups.map((g) => ({ name: g.name, name_key: g.key, created_at: now }))).onConflict('name_key').ignore();
      }
      const ids = groups.length ? (await trx('groups').whereIn('name_key', groups.map((g) => g.key)).select<{ id: number }[]>('id')).map((r) => r.id) : [];
      const gone = trx('user_groups').where({ user_id: userId, set_by: 'directory' });
      await (ids.length ? gone.whereNotIn('group_id', ids) : gone).delete();
      if (ids.length) await trx('user_groups').insert(ids.map((group_id) => ({ user_id: userId, group_id, set_by: 'directory' }))).onConflict(['user_id', 'group_id']).ignore();
    });
  }
}
