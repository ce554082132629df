/**
 * A software WebAuthn authenticator for server-side tests: real ES256 keys (node:crypto), real
 * CBOR, attestation "none", signatures over authenticator data and the client data hash, as a
 * browser with a platform authenticator would send them. Options let a test break one thing at a
 * time (origin, RP ID, user verification, the counter, the challenge).
 */
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';

type Cbor = number | string | Uint8Array | Cbor[] | Map<Cbor, Cbor> | { [key: string]: Cbor };

function head(major: number, length: number): Buffer {
  if (length < 24) return Buffer.from([(major << 5) | length]);
  if (length < 0x100) return Buffer.from([(major << 5) | 24, length]);
  if (length < 0x10000) return Buffer.from([(major << 5) | 25, length >> 8, length & 0xff]);
  const b = Buffer.alloc(5);
  b[0] = (major << 5) | 26;
  b.writeUInt32BE(length, 1);
  return b;
}

/** The CBOR subset WebAuthn needs: integers, byte and text strings, arrays, maps. */
export function cbor(value: Cbor): Buffer {
  if (typeof value === 'number') return value >= 0 ? head(0, value) : head(1, -1 - value);
  if (typeof value === 'string') {
    const bytes = Buffer.from(value, 'utf8');
    return Buffer.concat([head(3, bytes.length), bytes]);
  }
  if (value instanceof Uint8Array) return Buffer.concat([head(2, value.length), Buffer.from(value)]);
  if (Array.isArray(value)) return Buffer.concat([head(4, value.length), ...value.map(cbor)]);
  const entries = value instanceof Map ? [...value.entries()] : Object.entries(value);
  return Buffer.concat([head(5, entries.length), ...entries.flatMap(([k, v]) => [cbor(k), cbor(v)])]);
}

const b64u = (b: Uint8Array) => Buffer.from(b).toString('base64url');
const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest();

export interface SoftCredential {
  id: Buffer;
  key: KeyObject;
  publicJwk: { x: string; y: string };
  rpId: string;
  userHandle: string;
  counter: number;
  /** Synced (backup eligible). */
  synced: boolean;
}

export interface CeremonyOptions {
  origin?: string;
  rpId?: string;
  /** User verified (default true). */
  uv?: boolean;
  /** The counter to sign with (default: the next one). */
  counter?: number;
  challenge?: string;
  type?: string;
}

interface CreationOptions {
  challenge: string;
  rp: { id?: string };
  user: { id: string };
}

interface RequestOptions {
  challenge: string;
  rpId?: string;
  allowCredentials?: { id: string }[];
}

export class SoftAuthenticator {
  readonly origin: string;
  readonly credentials: SoftCredential[] = [];

  constructor(origin: string) {
    this.origin = origin;
  }

  #flags(uv: boolean, synced: boolean, attested: boolean): number {
    return 0x01 | (uv ? 0x04 : 0) | (synced ? 0x08 | 0x10 : 0) | (attested ? 0x40 : 0);
  }

  #clientData(type: string, challenge: string, origin: string): Buffer {
    return Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false }), 'utf8');
  }

  /** navigator.credentials.create() with these options (the JSON the server embedded in the page). */
  create(options: CreationOptions, o: CeremonyOptions & { synced?: boolean } = {}) {
    const rpId = o.rpId ?? options.rp.id ?? new URL(this.origin).hostname;
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = publicKey.export({ format: 'jwk' }) as { x: string; y: string };
    const credential: SoftCredential = { id: randomBytes(32), key: privateKey, publicJwk: jwk, rpId, userHandle: options.user.id, counter: 0, synced: o.synced ?? false };
    const cose = cbor(new Map<Cbor, Cbor>([[1, 2], [3, -7], [-1, 1], [-2, Buffer.from(jwk.x, 'base64url')], [-3, Buffer.from(jwk.y, 'base64url')]]));
    const length = Buffer.alloc(2);
    length.writeUInt16BE(credential.id.length);
    const counter = Buffer.alloc(4);
    counter.writeUInt32BE(o.counter ?? 0);
    const authData = Buffer.concat([sha256(rpId), Buffer.from([this.#flags(o.uv ?? true, credential.synced, true)]), counter, Buffer.alloc(16), length, credential.id, cose]);
    const clientDataJSON = this.#clientData(o.type ?? 'webauthn.create', o.challenge ?? options.challenge, o.origin ?? this.origin);
    this.credentials.push(credential);
    return {
      credential,
      response: {
        id: b64u(credential.id),
        rawId: b64u(credential.id),
        type: 'public-key',
        response: { clientDataJSON: b64u(clientDataJSON), attestationObject: b64u(cbor({ fmt: 'none', attStmt: {}, authData })), transports: ['internal'] },
        clientExtensionResults: {},
        authenticatorAttachment: 'platform',
      },
    };
  }

  /** navigator.credentials.get(): with allowCredentials one of those, else (discoverable) `use` or the first. */
  get(options: RequestOptions, o: CeremonyOptions & { use?: SoftCredential } = {}) {
    const allowed = (options.allowCredentials ?? []).map((c) => c.id);
    const credential = o.use ?? this.credentials.find((c) => allowed.length === 0 || allowed.includes(b64u(c.id)));
    if (!credential) throw new Error('no credential for these options');
    const rpId = o.rpId ?? options.rpId ?? credential.rpId;
    if (o.counter === undefined) credential.counter += 1;
    const counter = Buffer.alloc(4);
    counter.writeUInt32BE(o.counter ?? credential.counter);
    const authData = Buffer.concat([sha256(rpId), Buffer.from([this.#flags(o.uv ?? true, credential.synced, false)]), counter]);
    const clientDataJSON = this.#clientData(o.type ?? 'webauthn.get', o.challenge ?? options.challenge, o.origin ?? this.origin);
    const signature = sign('sha256', Buffer.concat([authData, sha256(clientDataJSON)]), credential.key);
    return {
      id: b64u(credential.id),
      rawId: b64u(credential.id),
      type: 'public-key',
      response: { clientDataJSON: b64u(clientDataJSON), authenticatorData: b64u(authData), signature: b64u(signature), userHandle: credential.userHandle },
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
    };
  }
}

/** The options JSON a page embeds for its passkey form (`ceremony`: register or authenticate). */
export function passkeyOptions<T>(html: string, ceremony: 'register' | 'authenticate'): T {
  const match = new RegExp(`<script type="application/json" id="passkey-options-${ceremony}">([\\s\\S]*?)</script>`).exec(html);
  if (!match) throw new Error(`no ${ceremony} passkey options on the page: ${html.slice(0, 1500)}`);
  return JSON.parse(match[1]!) as T;
}
