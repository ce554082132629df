/**
 * The configuration in force. Settings that can change live are read through `current`;
 * `replace` swaps in a new validated configuration and reports keys that need a restart.
 */
import { isDeepStrictEqual } from 'node:util';
import { restartKeys, type Config } from './schema.ts';

function at(config: Config, dotted: string): unknown {
  return dotted.split('.').reduce<unknown>((value, key) => (value as Record<string, unknown> | undefined)?.[key], config);
}

export class LiveConfig {
  #current: Config;
  readonly #atStart: Config;
  readonly #listeners: ((next: Config, previous: Config) => void)[] = [];

  constructor(config: Config) {
    this.#current = config;
    this.#atStart = config;
  }

  get current(): Config {
    return this.#current;
  }

  /** Calls `listener` after every replace(), with the new and the previous configuration. */
  onChange(listener: (next: Config, previous: Config) => void): void {
    this.#listeners.push(listener);
  }

  /** Applies a new configuration; returns the keys whose new value waits for a restart. */
  replace(next: Config): string[] {
    const previous = this.#current;
    this.#current = next;
    for (const listener of this.#listeners) listener(next, previous);
    return restartKeys.filter((key) => !isDeepStrictEqual(at(this.#atStart, key), at(next, key)));
  }
}
