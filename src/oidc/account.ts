/** findAccount for oidc-provider: the claims a relying party may see. Never any SSPR data. */
import type { Account, KoaContextWithOIDC } from 'oidc-provider';
import type { Store } from '../store/index.ts';

/** Claims per scope; nothing else is ever released. */
export const scopeClaims = {
  openid: ['sub'],
  profile: ['name', 'preferred_username'],
  email: ['email', 'email_verified'],
  groups: ['groups'],
} as const;

export function createFindAccount(store: Store) {
  return async function findAccount(_ctx: KoaContextWithOIDC, sub: string): Promise<Account | undefined> {
    const user = await store.users.findById(sub);
    // A disabled or deleted account ends every session and can't use its tokens.
    if (!user || user.status !== 'enabled') return undefined;
    return {
      accountId: user.id,
      async claims(_use: string, scope: string) {
        const scopes = new Set(scope.split(' '));
        return {
          sub: user.id,
          name: user.displayName || user.username,
          preferred_username: user.username,
          ...(user.email ? { email: user.email, email_verified: user.emailVerified } : {}),
          ...(scopes.has('groups') ? { groups: await store.users.groupsOf(user.id) } : {}),
        };
      },
    };
  };
}
