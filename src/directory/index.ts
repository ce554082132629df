/** Builds the directory client from the configuration (the CA file read at start; a missing one is a ConfigError). */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { DirectoryConfig } from '../config/directory-schema.ts';
import { ConfigError } from '../config/load.ts';
import { DirectoryClient } from './client.ts';

export async function createDirectoryClient(config: DirectoryConfig, cwd = process.cwd()): Promise<DirectoryClient> {
  let ca: Buffer | undefined;
  if (config.tls.caFile) {
    try {
      ca = await readFile(path.resolve(cwd, config.tls.caFile));
    } catch (error) {
      throw new ConfigError([{ path: 'directory.tls.caFile', message: `cannot read ${config.tls.caFile} (${(error as NodeJS.ErrnoException).code ?? 'error'})` }]);
    }
  }
  return new DirectoryClient(config, ca);
}
