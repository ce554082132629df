/**
 * The series an IdP exposes, in a registry of its own (never prom-client's global one), so two IdPs
 * in one process count apart. Every label takes values from a closed list written in this module
 * or the code: no user name, address, IP or id is ever a label value (unbounded and personal).
 */
import { Registry, Counter, Histogram, collectDefaultMetrics } from 'prom-client';

/** Falls back to 'other' for anything not in `allowed`: label values stay a closed set. */
export function oneOf<T extends string>(value: unknown, allowed: readonly T[]): T | 'other' {
  return typeof value === 'string' && (allowed as readonly string[]).includes(value) ? (value as T) : 'other';
}

export class Metrics {
  readonly registry = new Registry();
  readonly logins: Counter<'result'>;
  readonly lockouts: Counter;
  readonly mfa: Counter<'result'>;
  readonly interrupts: Counter<'outcome'>;
  readonly resetsStarted: Counter;
  readonly resetsCompleted: Counter;
  readonly resetsRefused: Counter<'reason'>;
  readonly ssprBlocks: Counter<'limit'>;
  readonly codesSent: Counter<'channel' | 'flow'>;
  readonly deliveryFailures: Counter<'channel' | 'reason'>;
  readonly throttleRefusals: Counter<'limit'>;
  readonly databaseErrors: Counter<'kind'>;
  readonly directoryErrors: Counter<'operation'>;
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;

  constructor() {
    const registers = [this.registry];
    const counter = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) =>
      new Counter<L>({ name: `oidc_sspr_${name}`, help, labelNames, registers });
    this.logins = counter('logins_total', 'Password sign-ins by result: success, or why they failed (wrong_password, unknown_user, locked, ip_throttled, ...).', ['result']);
    this.lockouts = counter('lockouts_total', 'Accounts locked by too many wrong passwords.');
    this.mfa = counter('mfa_total', 'Second-factor checks by result (success, failure).', ['result']);
    this.interrupts = counter('registration_interrupts_total', 'The registration interrupt at sign-in: shown, skipped, finished; reconfirmed for the reconfirmation.', ['outcome']);
    this.resetsStarted = counter('resets_started_total', 'Password reset flows started that may go on (not refused at once).');
    this.resetsCompleted = counter('resets_completed_total', 'Password resets completed (new password set).');
    this.resetsRefused = counter('resets_refused_total', 'Password resets refused or ended without a new password, by reason (blocked, not_registered, not_enabled, too_many_attempts, writeback, ...).', ['reason']);
    this.ssprBlocks = counter('sspr_blocks_total', 'Accounts blocked from SSPR for exceeding a limit, by limit (resets, email, phone, questions).', ['limit']);
    this.codesSent = counter('codes_sent_total', 'One-time codes handed to delivery, by channel (email, sms, voice) and flow (register, reset, mfa).', ['channel', 'flow']);
    this.deliveryFailures = counter('delivery_failures_total', 'Messages (codes and notifications) that could not be delivered, by channel and reason.', ['channel', 'reason']);
    this.throttleRefusals = counter('throttle_refusals_total', 'Requests refused by a rate limit, by limit (signin_ip, reset_ip, mfa_failures, sspr_*).', ['limit']);
    this.databaseErrors = counter('database_errors_total', 'Database failures: statements that failed (kind unavailable, constraint, query) and connections that could not be made (connect).', ['kind']);
    this.directoryErrors = counter('directory_errors_total', 'On-premises directory failures, by operation (signin, sync, writeback).', ['operation']);
    this.httpDuration = new Histogram({
      name: 'oidc_sspr_http_request_duration_seconds',
      help: 'HTTP request latency by method, route pattern (never the raw path) and status.',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    collectDefaultMetrics({ register: this.registry });
  }

  /** The Prometheus text exposition of every series. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
