/** Watches the configuration file and applies valid edits to the running server. */
import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { loadConfigFile, ConfigError } from './load.ts';
import type { LiveConfig } from './live.ts';

export interface ConfigWatcher {
  close(): void;
  /** Re-reads the file now (the watcher calls this on change). */
  reload(): Promise<'applied' | 'rejected' | 'unchanged'>;
}

export function watchConfig(file: string, live: LiveConfig, log: Logger, debounceMs = 200): ConfigWatcher {
  let timer: NodeJS.Timeout | undefined;
  let last = JSON.stringify(live.current);

  async function reload(): Promise<'applied' | 'rejected' | 'unchanged'> {
    try {
      const next = await loadConfigFile(file);
      const serialised = JSON.stringify(next);
      if (serialised === last) return 'unchanged';
      last = serialised;
      const waiting = live.replace(next);
      log.info({ file }, 'configuration reloaded');
      if (waiting.length) log.warn({ keys: waiting }, `these settings change only after a restart: ${waiting.join(', ')}`);
      return 'applied';
    } catch (error) {
      if (error instanceof ConfigError) {
        log.error({ file, problems: error.problems }, `configuration edit rejected, the last good configuration stays in force:\n${error.message}`);
        return 'rejected';
      }
      throw error;
    }
  }

  // Watch the directory: editors often replace the file rather than write into it.
  const watcher: FSWatcher = watch(path.dirname(file), (_event, name) => {
    if (name && name !== path.basename(file)) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      reload().catch((error: unknown) => log.error({ err: error }, 'configuration reload failed'));
    }, debounceMs);
  });
  watcher.unref();

  return {
    reload,
    close() {
      clearTimeout(timer);
      watcher.close();
    },
  };
}
