/**
 * What every "Can't access your account?" start passes before an account is looked at: the CAPTCHA
 * (when sspr.captcha is on), then the per-address budget (throttle.resetPerIp). No HTTP here: the
 * route hands over the address and the widget's field; RecoveryService.start asks the gate, as
 * PasswordSignIn keeps sign-in's per-address throttle.
 */
import { AppError } from '../../errors.ts';
import type { Config } from '../../config/schema.ts';
import type { Throttle } from '../../security/throttle.ts';
import { Service } from '../../service.ts';

/** The part of the CAPTCHA (src/security/captcha.ts) a reset start needs. */
export interface CaptchaCheck {
  /** True for a solved, unused challenge of this server; uses it up. */
  verify(payload: string | undefined): Promise<boolean>;
}

/** Who is starting: the client address and the CAPTCHA widget's field, when there is one. */
export interface StartRequest {
  ip?: string;
  captcha?: string;
}

export class ResetGate extends Service<{ throttle: Throttle; captcha: CaptchaCheck; config: () => Config }> {
  /**
   * Lets a start through or throws: `reset_captcha_failed` (400) for a missing, wrong or reused
   * solution, `reset_too_many_from_network` (429) past the address's budget. The CAPTCHA comes
   * first, so posts that never solved it cost the address nothing: an office behind one NAT address
   * keeps its budget while a bot hammers the form (issue 13 #8).
   */
  async admit(request: StartRequest): Promise<void> {
    const config = this.deps.config();
    if (config.sspr.captcha.enabled && !(await this.deps.captcha.verify(request.captcha))) throw new AppError('reset_captcha_failed');
    const limit = { points: config.throttle.resetPerIp, windowSeconds: config.throttle.resetWindowSeconds };
    if (!(await this.deps.throttle.hit(`reset:ip:${request.ip ?? 'unknown'}`, limit)).allowed) throw new AppError('reset_too_many_from_network');
  }
}
