/** Client metadata for oidc-provider, read from the live configuration. */
import type { AdapterPayload } from 'oidc-provider';
import type { ClientConfig } from '../config/schema.ts';
import type { ClientSource } from './adapter.ts';
import type { SigningAlgorithm } from './keys.ts';

export function clientMetadata(client: ClientConfig, signingAlg: SigningAlgorithm): AdapterPayload {
  const method = client.tokenEndpointAuthMethod ?? (client.clientSecret ? 'client_secret_basic' : 'none');
  return {
    client_id: client.clientId,
    ...(client.clientSecret ? { client_secret: client.clientSecret } : {}),
    ...(client.clientName ? { client_name: client.clientName } : {}),
    redirect_uris: client.redirectUris,
    post_logout_redirect_uris: client.postLogoutRedirectUris,
    token_endpoint_auth_method: method,
    grant_types: client.allowRefreshTokens ? ['authorization_code', 'refresh_token'] : ['authorization_code'],
    response_types: ['code'],
    id_token_signed_response_alg: signingAlg,
  };
}

export function createClientSource(clients: () => readonly ClientConfig[], signingAlg: SigningAlgorithm): ClientSource & { get(clientId: string): ClientConfig | undefined } {
  const get = (clientId: string) => clients().find((c) => c.clientId === clientId);
  return {
    get,
    find(clientId) {
      const client = get(clientId);
      return client ? clientMetadata(client, signingAlg) : undefined;
    },
  };
}
