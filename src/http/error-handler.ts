import type { ErrorRequestHandler, RequestHandler } from 'express';
import { AppError } from '../errors/app-error.js';

/** Errors raised by express.json() (body-parser) carry a `type` and an HTTP status. */
interface BodyParserError extends Error {
  type: string;
  status: number;
  limit?: number;
}

function isBodyParserError(error: unknown): error is BodyParserError {
  return error instanceof Error && typeof (error as Partial<BodyParserError>).type === 'string' && typeof (error as Partial<BodyParserError>).status === 'number';
}

function toAppError(error: unknown, isProduction: boolean): AppError {
  if (error instanceof AppError) return error;
  if (isBodyParserError(error)) {
    switch (error.type) {
      case 'entity.parse.failed':
        return new AppError(400, 'INVALID_JSON', 'Request body is not valid JSON', undefined, { cause: error });
      case 'entity.too.large':
        return new AppError(413, 'PAYLOAD_TOO_LARGE', `Request body is larger than the limit of ${error.limit ?? '?'} bytes`, undefined, { cause: error });
      default:
        if (error.status >= 400 && error.status < 500) {
          return new AppError(error.status, 'BAD_REQUEST', error.message, undefined, { cause: error });
        }
    }
  }
  // A programmer error: answer 500 and keep serving; what went wrong is in the log, not the body.
  const message = isProduction ? 'Internal server error' : error instanceof Error ? error.message : String(error);
  return new AppError(500, 'INTERNAL_ERROR', message, undefined, { cause: error });
}

export const notFoundHandler: RequestHandler = (req, _res, next) => {
  next(AppError.notFound(`No route for ${req.method} ${req.path}`));
};

/** The one error middleware: every error becomes `{"error":{code,message,requestId}}`. */
export function errorHandler(options: { isProduction: boolean }): ErrorRequestHandler {
  return (error: unknown, req, res, next) => {
    if (res.headersSent) {
      next(error);
      return;
    }
    const appError = toAppError(error, options.isProduction);
    // pino-http logs this with the response line, so each error is logged once, with its request id.
    res.err = appError.isServerError ? (appError.cause instanceof Error ? appError.cause : appError) : appError;
    res.status(appError.status).json({
      error: {
        code: appError.code,
        message: appError.message,
        // requestLogger's genReqId always makes a string.
        requestId: req.id as string,
        ...(appError.details ? { details: appError.details } : {}),
      },
    });
  };
}
