/**
 * How the directory fails, as the user and the audit see it: stable codes, distinct for "can't
 * reach the directory" (an outage: 503 with Retry-After) and "the directory refused the service
 * account" or "the configuration doesn't match the directory" (502: an administrator has to act),
 * and an account an administrator locked in the directory (403: a reset or unlock won't lift it).
 */
import { ResultCodeError } from 'ldapts';
import { AppError } from '../errors.ts';

export type DirectoryFailure = 'unreachable' | 'service_refused' | 'misconfigured' | 'locked_by_admin';

export class DirectoryError extends AppError {
  readonly failure: DirectoryFailure;
  /** What went wrong underneath, for the log and the audit (never a password): tls, timeout, ... */
  readonly reason: string;
  constructor(failure: DirectoryFailure, cause: string) {
    const code = ({ unreachable: 'DIRECTORY_UNREACHABLE', service_refused: 'DIRECTORY_SERVICE_REFUSED', misconfigured: 'DIRECTORY_MISCONFIGURED', locked_by_admin: 'DIRECTORY_LOCKED_BY_ADMIN' } as const)[failure];
    const what = {
      unreachable: "can't reach the directory",
      service_refused: 'the directory refused the service account',
      misconfigured: "the directory doesn't match directory: in the configuration",
      locked_by_admin: 'an administrator locked the account in the directory',
    }[failure];
    super(code, `${what} (${code}: ${cause})`);
    this.name = 'DirectoryError';
    this.failure = failure;
    this.reason = cause;
  }
}

/** The directory's password policy refused a new password (ppolicy: history, quality, length, age). */
export class DirectoryPolicyRefusal extends Error {
  readonly problem: 'directory_history' | 'directory_quality' | 'directory_too_young' | 'directory_refused';
  constructor(problem: DirectoryPolicyRefusal['problem'], detail: string) {
    super(`the directory refused the new password: ${detail}`);
    this.name = 'DirectoryPolicyRefusal';
    this.problem = problem;
  }
}

/** LDAP result codes this module acts on (RFC 4511). */
export const LDAP = { constraintViolation: 19, noSuchAttribute: 16, noSuchObject: 32, invalidCredentials: 49, insufficientAccess: 50, unwillingToPerform: 53 } as const;

export function resultCode(error: unknown): number | undefined {
  return error instanceof ResultCodeError && typeof error.code === 'number' ? error.code : undefined;
}

const TLS_CODES = /CERT|SSL|TLS|UNABLE_TO_VERIFY|SELF_SIGNED|ERR_SSL|HOSTNAME/;

/** A failure to talk to the directory at all (no result code): which kind, for the log. */
export function transportCause(error: unknown): string {
  const e = error as { code?: unknown; message?: string };
  const code = typeof e?.code === 'string' ? e.code : '';
  if (TLS_CODES.test(code) || /certificate|ssl|tls/i.test(e?.message ?? '')) return 'tls';
  if (/timeout/i.test(e?.message ?? '') || code === 'ETIMEDOUT') return 'timeout';
  if (code === 'ECONNREFUSED') return 'connection_refused';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'host_not_found';
  if (code === 'ECONNRESET' || code === 'EPIPE' || /closed|reset/i.test(e?.message ?? '')) return 'connection_lost';
  return code ? code.toLowerCase() : 'connection_failed';
}

/** Maps an error of an operation done as the service account to a DirectoryError. */
export function asServiceError(error: unknown): DirectoryError {
  if (error instanceof DirectoryError) return error;
  const rc = resultCode(error);
  if (rc === undefined) return new DirectoryError('unreachable', transportCause(error));
  if (rc === LDAP.invalidCredentials) return new DirectoryError('service_refused', 'invalid_credentials');
  if (rc === LDAP.insufficientAccess) return new DirectoryError('service_refused', 'insufficient_access');
  if (rc === LDAP.noSuchObject) return new DirectoryError('misconfigured', 'no_such_object');
  // The directory's size limit for the service account is below the number of entries (paged searches count too).
  if (rc === 4) return new DirectoryError('misconfigured', 'size_limit_exceeded');
  if (rc === 51 || rc === 52) return new DirectoryError('unreachable', rc === 51 ? 'busy' : 'unavailable');
  return new DirectoryError('misconfigured', `ldap_result_${rc}`);
}

/** ppolicy's refusal of a new password (constraint violation), by its diagnostic message. */
export function policyRefusal(error: unknown): DirectoryPolicyRefusal | undefined {
  const rc = resultCode(error);
  if (rc !== LDAP.constraintViolation && rc !== LDAP.unwillingToPerform) return undefined;
  const message = (error as Error).message;
  if (/history|not being changed/i.test(message)) return new DirectoryPolicyRefusal('directory_history', message);
  if (/quality|too short|length/i.test(message)) return new DirectoryPolicyRefusal('directory_quality', message);
  if (/too young|too soon/i.test(message)) return new DirectoryPolicyRefusal('directory_too_young', message);
  return new DirectoryPolicyRefusal('directory_refused', message);
}
