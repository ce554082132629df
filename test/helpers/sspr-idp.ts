/** An IdP with SSPR settings whose mail goes to a real SMTP server and texts/calls to a real webhook receiver. */
import type { ConfigInput } from '../../src/config/schema.ts';
import { startIdp, TestClock, type RunningIdp, type StartOptions } from './idp.ts';
import { startSmtp, type TestSmtp } from './smtp.ts';
import { startSmsReceiver, type SmsReceiver } from './sms.ts';
import { oncePerFile, readied } from './once-per-file.ts';

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
        // Timeouts well above any answer of these in-process servers on a loaded machine: no test here
        // depends on them firing (delivery.test.ts tests the timeouts).
        mail: { transport: 'smtp', smtp: { host: '127.0.0.1', port: smtp.port, timeoutSeconds: 15 } },
        phone: { transport: 'webhook', webhook: { url: sms.url, secret: SMS_SECRET, timeoutMs: 10_000, retries: 0 } },
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

/** The test file's one bed (see oncePerFile); `ready` runs once it has started, e.g. to edit the live configuration. */
export function ssprBed(sspr: NonNullable<ConfigInput['sspr']>, options: Omit<StartOptions, 'clock'> = {}, ready?: (bed: SsprTestbed) => void | Promise<void>): SsprTestbed {
  return oncePerFile(async () => {
    const bed = await startSsprIdp(sspr, options);
    await readied(bed, ready);
    return bed;
  });
}
