/** Structured logs (pino). Secrets are redacted by key wherever they appear. */
import { pino, type Logger, type DestinationStream } from 'pino';

const SECRET_KEYS = ['password', 'newPassword', 'code', 'otp', 'token', 'csrf', 'secret', 'clientSecret', 'client_secret', 'authorization', 'cookie', 'answer', 'answers'];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'oidc-sspr' },
      redact: {
        paths: [...SECRET_KEYS, ...SECRET_KEYS.map((k) => `*.${k}`), 'req.headers.cookie', 'req.headers.authorization'],
        censor: '[redacted]',
      },
    },
    destination,
  );
}

export type { Logger };
