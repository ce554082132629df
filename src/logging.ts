/** Structured logs (pino). Secrets are redacted by key wherever they appear. */
import { pino, type Logger, type DestinationStream } from 'pino';
import type { LiveConfig } from './config/live.ts';

const SECRET_KEYS = ['password', 'newPassword', 'otp', 'token', 'csrf', 'secret', 'clientSecret', 'client_secret', 'authorization', 'cookie', 'answer', 'answers'];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'oidc-sspr' },
      redact: {
        // A top-level `code` could be a one-time code; nested ones are error codes (err.code) and stay readable.
        paths: ['code', ...SECRET_KEYS, ...SECRET_KEYS.map((k) => `*.${k}`), 'req.headers.cookie', 'req.headers.authorization'],
        censor: '[redacted]',
      },
    },
    destination,
  );
}

/** Keeps `log` at the configured `logging.level` when the configuration is reloaded. */
export function followLevel(live: LiveConfig, log: Logger): void {
  live.onChange((next) => {
    if (log.level !== next.logging.level) log.level = next.logging.level;
  });
}

export type { Logger };
