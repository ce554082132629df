/**
 * Errors the user may see: a stable code for logs and the helpdesk, an HTTP status, and a message id
 * translated at render time. Every code is in one catalogue, so a code, its status and its text are
 * chosen in one place; a code or message id that isn't there is a type error.
 */
import type { MessageId } from './i18n/en.ts';

interface ErrorEntry {
  status: number;
  messageId: MessageId;
}

export const errorCatalogue = {
  // Requests and forms
  bad_request: { status: 400, messageId: 'error.bad_request' },
  malformed_body: { status: 400, messageId: 'error.bad_request' },
  repeated_field: { status: 400, messageId: 'error.bad_request' },
  invalid_characters: { status: 400, messageId: 'error.bad_request' },
  unknown_prompt: { status: 400, messageId: 'error.bad_request' },
  wrong_step: { status: 400, messageId: 'error.wrong_step' },
  session_expired: { status: 400, messageId: 'error.session_expired' },
  csrf_invalid: { status: 403, messageId: 'error.csrf' },
  body_too_large: { status: 413, messageId: 'error.too_large' },
  unsupported_media_type: { status: 415, messageId: 'error.bad_request' },
  // Accounts and input rules
  user_not_found: { status: 404, messageId: 'error.user_not_found' },
  invalid_username: { status: 400, messageId: 'error.invalid_username' },
  invalid_password: { status: 400, messageId: 'error.invalid_password' },
  invalid_email: { status: 400, messageId: 'error.invalid_email' },
  invalid_display_name: { status: 400, messageId: 'error.invalid_display_name' },
  invalid_group: { status: 400, messageId: 'error.invalid_group' },
  invalid_phone: { status: 400, messageId: 'error.invalid_phone' },
  // Registration of methods
  method_unavailable: { status: 404, messageId: 'register.method_unavailable' },
  method_admin_only: { status: 403, messageId: 'office_phone.admin_only' },
  below_requirement: { status: 409, messageId: 'register.remove_refused' },
  not_enough_methods: { status: 409, messageId: 'register.not_enough' },
  skip_not_allowed: { status: 409, messageId: 'register.skip_refused' },
  // Password reset
  reset_expired: { status: 410, messageId: 'recover.expired' },
  reset_step_conflict: { status: 409, messageId: 'recover.step_conflict' },
  reset_wrong_step: { status: 409, messageId: 'recover.wrong_step' },
  reset_method_unavailable: { status: 400, messageId: 'recover.method_unavailable' },
  reset_bad_choice: { status: 400, messageId: 'error.bad_request' },
  reset_captcha_failed: { status: 400, messageId: 'recover.captcha_failed' },
  reset_too_many_from_network: { status: 429, messageId: 'recover.too_many_from_network' },
  SSPR_ONPREM_MANAGED: { status: 409, messageId: 'recover.refused.onprem_managed.text' },
  writeback_unavailable: { status: 503, messageId: 'recover.writeback_failed' },
  writeback_failed: { status: 502, messageId: 'recover.writeback_failed' },
  reset_incomplete: { status: 503, messageId: 'recover.incomplete' },
  // The on-premises directory (src/directory/)
  DIRECTORY_UNREACHABLE: { status: 503, messageId: 'directory.unreachable' },
  DIRECTORY_SERVICE_REFUSED: { status: 502, messageId: 'directory.service_refused' },
  DIRECTORY_MISCONFIGURED: { status: 502, messageId: 'directory.misconfigured' },
  DIRECTORY_LOCKED_BY_ADMIN: { status: 403, messageId: 'directory.locked_by_admin' },
  // Delivery of codes
  delivery_failed: { status: 502, messageId: 'error.delivery_failed' },
} as const satisfies Record<string, ErrorEntry>;

export type ErrorCode = keyof typeof errorCatalogue;

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly messageId: MessageId;

  /** `detail` is for logs and the CLI, never shown on a page. */
  constructor(code: ErrorCode, detail?: string) {
    super(detail ?? code);
    this.name = 'AppError';
    this.code = code;
    this.status = errorCatalogue[code].status;
    this.messageId = errorCatalogue[code].messageId;
  }
}
