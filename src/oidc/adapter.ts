/**
 * oidc-provider adapter on the knex store: every model in one table. `consume` is a conditional
 * update, so of two instances redeeming one code at the same moment exactly one succeeds.
 */
import { errors } from 'oidc-provider';
import type { Adapter, AdapterPayload } from 'oidc-provider';
import type { OidcPayloadStore } from '../store/oidc-payloads.ts';
import type { Clock } from '../clock.ts';

/** Where client metadata comes from (the live configuration), so client edits apply without restart. */
export interface ClientSource {
  find(clientId: string): AdapterPayload | undefined;
}

export type AdapterClass = new (name: string) => Adapter;

export function createKnexAdapter(store: OidcPayloadStore, clock: Clock, clients: ClientSource): AdapterClass {
  return class KnexAdapter implements Adapter {
    readonly name: string;

    constructor(name: string) {
      this.name = name;
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
      if (this.name === 'Client') throw new Error('clients are managed in the configuration file');
      const expiresAt = expiresIn ? clock.now() + expiresIn * 1000 : null;
      await store.upsert(this.name, id, payload as Record<string, unknown>, expiresAt);
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      if (this.name === 'Client') return clients.find(id);
      return this.#shape(await store.find(this.name, id, clock.now()));
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      return this.#shape(await store.findByUid(this.name, uid, clock.now()));
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      return this.#shape(await store.findByUserCode(this.name, userCode, clock.now()));
    }

    async destroy(id: string): Promise<void> {
      await store.destroy(this.name, id);
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await store.revokeByGrantId(grantId);
    }

    async consume(id: string): Promise<void> {
      if (await store.consume(this.name, id, clock.now())) return;
      // Lost a race with another request or instance: treat it as the replay it is.
      const found = await store.find(this.name, id, clock.now());
      const grantId = found?.payload.grantId;
      if (typeof grantId === 'string') await store.revokeByGrantId(grantId);
      throw new errors.InvalidGrant(`${this.name} already consumed`);
    }

    #shape(found: Awaited<ReturnType<OidcPayloadStore['find']>>): AdapterPayload | undefined {
      if (!found) return undefined;
      const payload = found.payload as AdapterPayload;
      return found.consumedAt === null ? payload : { ...payload, consumed: Math.floor(found.consumedAt / 1000) };
    }
  };
}
