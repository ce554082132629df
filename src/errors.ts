/**
 * Errors the user may see: a stable code for logs and the helpdesk, an HTTP status,
 * and a message id translated at render time.
 */
export class AppError extends Error {
  readonly code: string;
  readonly status: number;
  readonly messageId: string;

  constructor(code: string, status: number, messageId: string, detail?: string) {
    super(detail ?? code);
    this.name = 'AppError';
    this.code = code;
    this.status = status;
    this.messageId = messageId;
  }
}

export const badRequest = (code: string, messageId = 'error.bad_request', detail?: string) =>
  new AppError(code, 400, messageId, detail);
