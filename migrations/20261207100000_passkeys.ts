import type { Knex } from 'knex';

/**
 * Passkeys (WebAuthn). A passkey is a row of sspr_methods of kind 'passkey', one per credential:
 * its slot a hash of the credential id (ids may be up to 1023 bytes), its value the credential
 * (id, public key, signature counter, transports, backup flags, last use) as JSON. A credential id
 * belongs to one account only: unique among passkeys. The challenges handed to browsers live in
 * webauthn_challenges: random, single-use, short-lived, bound to the flow they were issued for
 * (at a passkey sign-in the account isn't known yet, so they can't be sspr_challenges rows).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw("CREATE UNIQUE INDEX sspr_methods_passkey_credential ON sspr_methods (slot) WHERE kind = 'passkey'");
  await knex.schema.createTable('webauthn_challenges', (t) => {
    t.string('challenge', 128).primary();
    // What the challenge was issued for: 'login:<interaction>', 'register:<flow>:<user>', ...
    t.string('binding', 255).notNullable();
    t.string('user_id', 64).nullable().references('id').inTable('users').onDelete('CASCADE');
    t.bigInteger('created_at').notNullable();
    t.bigInteger('expires_at').notNullable();
    t.bigInteger('consumed_at').nullable();
    t.index(['expires_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('webauthn_challenges');
  // Older code knows no passkeys: they go with the index that kept them apart.
  await knex('sspr_methods').where({ kind: 'passkey' }).delete();
  await knex.raw('DROP INDEX sspr_methods_passkey_credential');
}
