/**
 * The directory inside a running IdP: the pass-through password check for directory users, the
 * sync at start and every directory.syncIntervalMinutes, and the state /healthz reports.
 */
import type { Logger } from 'pino';
import type { Store } from '../store/index.ts';
import type { User } from '../store/users.ts';
import type { Config } from '../config/schema.ts';
import type { Clock } from '../clock.ts';
import type { UserService, ExternalPasswordCheck } from '../users/service.ts';
import { createDirectoryClient } from './index.ts';
import { DirectorySync } from './sync.ts';
import { DirectoryError } from './errors.ts';
import type { DirectoryClient } from './client.ts';

export type DirectoryHealth = { status: 'ok' | 'unavailable'; error?: string };

/** Longest /healthz waits for the directory's answer; no answer by then counts as unreachable. */
export const HEALTH_WAIT_MS = 1000;

export interface DirectoryRuntime {
  client: DirectoryClient;
  /** Starts the sync (now, then on the interval); failures are logged and audited, never thrown. */
  start(users: UserService): void;
  /** ok, or the error code of the failure (DIRECTORY_UNREACHABLE, also when no answer came within HEALTH_WAIT_MS; DIRECTORY_SERVICE_REFUSED, ...). */
  health(): Promise<DirectoryHealth>;
  /** Resolves when a sync in progress is done. */
  settled(): Promise<void>;
  stop(): void;
}

/** Pass-through: a user the directory sync linked is checked by a bind as that user. */
export function directoryPasswordCheck(store: Store, client: DirectoryClient): ExternalPasswordCheck {
  return async (user: User, password: string) => {
    if (user.passwordSource !== 'onpremises') return undefined;
    const dn = await store.directory.dnOf(user.id);
    return dn ? client.verifyPassword(dn, password) : undefined;
  };
}

export async function createDirectoryRuntime(config: Config, deps: { store: Store; clock: Clock; log: Logger; cwd?: string; country: () => string }): Promise<DirectoryRuntime | undefined> {
  if (!config.directory) return undefined;
  const client = await createDirectoryClient(config.directory, deps.cwd);
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let checking: Promise<DirectoryHealth> | undefined;
  const log = deps.log.child({ component: 'directory' });
  const once = (users: UserService) => {
    if (running) return;
    const sync = new DirectorySync({ client, store: deps.store, users, clock: deps.clock, log, defaultCountry: deps.country });
    running = sync
      .run()
      .then((r) => log.info({ event: 'directory.sync', created: r.created.length, updated: r.updated.length, disabled: r.disabled.length, skipped: r.skipped.length }, 'directory synchronised'))
      .catch((error: unknown) => {
        // DirectorySync.run audits the failure itself.
        const code = error instanceof DirectoryError ? error.code : 'error';
        log.error({ event: 'directory.sync.failed', errorCode: code, err: { message: (error as Error).message } }, 'directory sync failed: nothing was disabled');
      })
      .finally(() => {
        running = undefined;
      });
  };
  return {
    client,
    start(users) {
      once(users);
      const minutes = config.directory!.syncIntervalMinutes;
      if (minutes > 0) {
        timer = setInterval(() => once(users), minutes * 60_000);
        timer.unref();
      }
    },
    health() {
      // One check at a time however many probes ask, and never longer than HEALTH_WAIT_MS: a
      // directory that hangs must not make /healthz (and the load balancer) wait for it.
      checking ??= client
        .ping()
        .then((): DirectoryHealth => ({ status: 'ok' }))
        .catch((error: unknown): DirectoryHealth => ({ status: 'unavailable', error: error instanceof DirectoryError ? error.code : 'error' }))
        .finally(() => {
          checking = undefined;
        });
      let timer: NodeJS.Timeout | undefined;
      const slow = new Promise<DirectoryHealth>((resolve) => {
        timer = setTimeout(() => resolve({ status: 'unavailable', error: 'DIRECTORY_UNREACHABLE' }), HEALTH_WAIT_MS);
      });
      return Promise.race([checking, slow]).finally(() => clearTimeout(timer));
    },
    settled: async () => {
      await running;
    },
    stop() {
      if (timer) clearInterval(timer);
    },
  };
}
