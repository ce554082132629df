/** An IdP with SSPR settings whose mail goes to a real SMTP server and texts/calls to a real webhook receiver. */
import test from 'ava';
import type { ConfigInput } from '../../src/config/schema.ts';
import { startIdp, TestClock, type RunningIdp, type StartOptions } from './idp.ts';
import { startSmtp, type TestSmtp } from './smtp.ts';
import { startSmsReceiver, type SmsReceiver } from './sms.ts';

export const SMS_SECRET = 'sms-webhook-secret-0123456789';

export interface SsprTestbed {
  idp: RunningIdp;
  smtp: TestSmtp;
  sms: SmsReceiver;
  clock: TestClock;
  close(): Promise<void>;
}

/** `options.config` adds to the configuration (clients, ui, ...); mail and phone always go to the test servers. */
export async function startSsprIdp(sspr: NonNullable<ConfigInput['sspr']>, options: Omit<StartOptions, 'clock'> = {}): Promise<SsprTestbed> {
  const clock = new TestClock();
  const smtp = await startSmtp();
  const sms = await startSmsReceiver(SMS_SECRET, { now: () => clock.now() });
  const idp = await startIdp({
    ...options,
    clock,
    config: {
      ...options.config,
      sspr,
      delivery: {
        mail: { transport: 'smtp', smtp: { host: '127.0.0.1', port: smtp.port, timeoutSeconds: 5 } },
        phone: { transport: 'webhook', webhook: { url: sms.url, secret: SMS_SECRET, timeoutMs: 2000, retries: 0 } },
      },
    },
  });
  return {
    idp,
    smtp,
    sms,
    clock,
    async close() {
      await idp.close();
      await smtp.close();
      await sms.close();
    },
  };
}

/**
 * The test file's one bed: started before its tests (ava's `test.before`), then `ready` (e.g. to
 * edit the live configuration), closed after them however they ended. Its fields can be read from
 * the first hook or test on.
 */
export function ssprBed(sspr: NonNullable<ConfigInput['sspr']>, options: Omit<StartOptions, 'clock'> = {}, ready?: (bed: SsprTestbed) => void | Promise<void>): SsprTestbed {
  let started: SsprTestbed | undefined;
  const bed = (): SsprTestbed => {
    if (!started) throw new Error('the test bed is read before test.before started it');
    return started;
  };
  test.before(async () => {
    started = await startSsprIdp(sspr, options);
    await ready?.(started);
  });
  test.after.always(async () => {
    await started?.close();
  });
  const field = (key: keyof SsprTestbed): PropertyDescriptor => ({ get: () => bed()[key], enumerable: true });
  return Object.defineProperties({}, { idp: field('idp'), smtp: field('smtp'), sms: field('sms'), clock: field('clock'), close: field('close') }) as SsprTestbed;
}
