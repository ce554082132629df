/** What every store class is: queries on one Knex handle, the only place SQL lives. */
import type { Knex } from 'knex';

/** A row as the driver returns it, before it is read into a typed record. */
export type Row = Record<string, unknown>;

export abstract class Repository {
  protected readonly db: Knex;

  constructor(db: Knex) {
    this.db = db;
  }
}
