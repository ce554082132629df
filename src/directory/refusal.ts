/**
 * What a reset does when the writeback did not go through for a reason the user can act on or
 * that is the directory's: a policy refusal goes back to the password step with the directory's
 * reason as a problem; a DirectoryError goes back too and is shown as its page (503 or 502).
 * Nothing changes locally in either case.
 */
import { DirectoryError, DirectoryPolicyRefusal } from './errors.ts';
import type { PasswordProblem } from '../security/password-policy.ts';

export async function writebackRefused<F>(
  error: unknown,
  back: () => Promise<F>,
  audit: (details: Record<string, string>) => Promise<void>,
): Promise<{ flow: F; problems: PasswordProblem[] } | undefined> {
  if (error instanceof DirectoryPolicyRefusal) {
    const flow = await back();
    await audit({ reason: 'writeback_refused', problem: error.problem });
    return { flow, problems: [{ code: error.problem }] };
  }
  if (error instanceof DirectoryError) {
    await back();
    await audit({ reason: 'writeback', directoryError: error.code });
    throw error;
  }
  return undefined;
}
