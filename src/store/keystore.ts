/** Signing keys and cookie keys, shared by every instance through the database. */
import { Repository } from './repository.ts';

export type KeyKind = 'signing' | 'cookie' | 'secrets';

export interface StoredKey {
  id: string;
  kind: KeyKind;
  material: string;
  createdAt: number;
  retireAt: number | null;
}

interface KeyRow {
  id: string;
  kind: string;
  material: string;
  created_at: string | number;
  retire_at: string | number | null;
}

export class KeyStore extends Repository {
  /** Inserts a key unless one with the same id exists; returns whether it was inserted. */
  async insertIfAbsent(key: StoredKey): Promise<boolean> {
    const rows = await this.db('keystore')
      .insert({ id: key.id, kind: key.kind, material: key.material, created_at: key.createdAt, retire_at: key.retireAt })
      .onConflict('id')
      .ignore()
      .returning('id');
    return rows.length > 0;
  }

  /** Keys of a kind still in force, newest first. */
  async active(kind: KeyKind, now: number): Promise<StoredKey[]> {
    const rows = await this.db<KeyRow>('keystore')
      .where({ kind })
      .andWhere((q) => q.whereNull('retire_at').orWhere('retire_at', '>', now))
      .orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'desc' }]);
    return rows.map((r) => ({
      id: r.id,
      kind: r.kind as KeyKind,
      material: r.material,
      createdAt: Number(r.created_at),
      retireAt: r.retire_at === null ? null : Number(r.retire_at),
    }));
  }

  /** Adds a new key and schedules every older unretired key of the kind to retire at `retireAt`, atomically. */
  async rotate(key: StoredKey, retireAt: number): Promise<number> {
    return this.db.transaction(async (trx) => {
      const retired = await trx('keystore').where({ kind: key.kind }).whereNull('retire_at').update({ retire_at: retireAt });
      await trx('keystore').insert({ id: key.id, kind: key.kind, material: key.material, created_at: key.createdAt, retire_at: null });
      return retired;
    });
  }

  async purgeRetired(now: number): Promise<number> {
    return this.db('keystore').whereNotNull('retire_at').andWhere('retire_at', '<=', now).delete();
  }
}
