/**
 * CSRF tokens bound to one flow: an HMAC of the flow id and the form's purpose under a server
 * secret. A token from another flow, another form or another server doesn't verify.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface Csrf {
  token(flowId: string, purpose: string): string;
  verify(flowId: string, purpose: string, token: unknown): boolean;
}

export function createCsrf(secret: () => Buffer): Csrf {
  const mac = (flowId: string, purpose: string) =>
    createHmac('sha256', secret()).update(`csrf\0${purpose}\0${flowId}`).digest('base64url');
  return {
    token: mac,
    verify(flowId, purpose, token) {
      if (typeof token !== 'string' || token.length !== 43) return false;
      const expected = Buffer.from(mac(flowId, purpose));
      const given = Buffer.from(token);
      return given.length === expected.length && timingSafeEqual(given, expected);
    },
  };
}
