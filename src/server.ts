#!/usr/bin/env node
/** Standalone entry (`npm start`): loads the configuration, serves the IdP, reloads edits, stops gracefully. */
import http from 'node:http';
import { parseArgs } from 'node:util';
import { locateConfig, loadConfigFile, ConfigError } from './config/load.ts';
import { watchConfig } from './config/watch.ts';
import { createIdp } from './app.ts';
import { createLogger, followLevel } from './logging.ts';

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs({ options: { config: { type: 'string', short: 'c' } }, strict: true });
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\nusage: oidc-sspr-server [--config FILE]\n`);
    return 2;
  }
  const location = locateConfig(args.values.config);
  let config;
  try {
    config = await loadConfigFile(location.file);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\nThe server was not started.\n`);
      return 2;
    }
    throw error;
  }
  const log = createLogger(config.logging.level);
  if (location.fromExample) {
    log.warn({ file: location.file }, 'config/idp.yaml not found: starting from the example configuration (copy it to config/idp.yaml to make it yours)');
  }

  let idp;
  try {
    idp = await createIdp(config, { logger: log });
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${location.file}: ${error.message}\nThe server was not started.\n`);
      return 2;
    }
    throw error;
  }
  followLevel(idp.parts.config, log);
  const server = http.createServer(idp.app.callback());
  server.requestTimeout = 30_000;
  server.headersTimeout = 15_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.server.port, config.server.host, () => resolve());
  }).catch(async (error: NodeJS.ErrnoException) => {
    log.fatal({ code: error.code }, `cannot listen on port ${config.server.port}: ${error.message}`);
    await idp.close();
    process.exit(1);
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.server.port;
  log.info({ issuer: config.server.issuer, port, config: location.file }, `oidc-sspr listening on port ${port}`);
  if (idp.metricsListener) log.info({ url: `${idp.metricsListener.url}/metrics` }, 'metrics served on their own listener');

  const watcher = watchConfig(location.file, idp.parts.config, log);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down: no new connections, finishing requests in flight');
    watcher.close();
    const grace = setTimeout(() => server.closeAllConnections(), config.server.shutdownGraceSeconds * 1000);
    grace.unref();
    server.close(async () => {
      await idp.close();
      log.info('stopped');
      process.exit(0);
    });
    server.closeIdleConnections();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  return 0;
}

main().then(
  (code) => {
    if (code !== 0) process.exit(code);
  },
  (error: unknown) => {
    process.stderr.write(`oidc-sspr failed to start: ${(error as Error).message}\n`);
    process.exit(1);
  },
);
