/** One thing (an IdP, a database, ...) shared by all tests of a file. */
import test from 'ava';
import { startIdp, type RunningIdp, type StartOptions } from './idp.ts';

/**
 * Starts `start()` before the file's tests (ava's `test.before`) and closes it after them however
 * they ended. The object returned reads through to what started, from the first test on.
 */
export function oncePerFile<T extends { close(): Promise<void> }>(start: () => Promise<T>): T {
  let started: T | undefined;
  test.before(async () => {
    started = await start();
  });
  test.after.always(async () => {
    await started?.close();
  });
  return new Proxy({} as T, {
    get(_, key) {
      if (!started) throw new Error(`read ${String(key)} before test.before started it`);
      return Reflect.get(started, key);
    },
  });
}

/** Runs `ready` on what just started; closes it if that fails, since no hook will. */
export async function readied<T extends { close(): Promise<void> }>(started: T, ready?: (started: T) => unknown): Promise<void> {
  try {
    await ready?.(started);
  } catch (error) {
    await started.close();
    throw error;
  }
}

/** The test file's one IdP (see startIdp); `ready` runs once it has started, e.g. to add users. */
export function idpBed(options: StartOptions = {}, ready?: (idp: RunningIdp) => unknown): RunningIdp {
  return oncePerFile(async () => {
    const idp = await startIdp(options);
    await readied(idp, ready);
    return idp;
  });
}
