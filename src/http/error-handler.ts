import type { ErrorRequestHandler, Request, RequestHandler } from 'express';
import { AppError } from '../errors/app-error.js';
import type { ErrorBody } from '../errors/error-body.js';

/**
 * Errors raised while reading a request (body-parser, raw-body, zlib through body-parser,
 * the router's parameter decoding): http-errors style, with a 4xx `status` and `expose`.
 */
interface RequestReadError extends Error {
  status: number;
  type?: string;
  limit?: number;
}

function isRequestReadError(error: unknown): error is RequestReadError {
  const status = (error as Partial<RequestReadError> | undefined)?.status;
  return error instanceof Error && typeof status === 'number' && status >= 400 && status < 500;
}

function fromRequestReadError(error: RequestReadError, req: Request): AppError {
  const options = { cause: error };
  // The router sets status 400 on a URIError from decodeURIComponent (`/api/rooms/%zz/...`).
  if (error instanceof URIError) return new AppError(400, 'INVALID_URL', 'The URL path is not valid percent-encoding', undefined, options);
  switch (error.type) {
    case 'entity.parse.failed':
      return new AppError(400, 'INVALID_JSON', 'Request body is not valid JSON', undefined, options);
    case 'entity.too.large':
      return new AppError(413, 'PAYLOAD_TOO_LARGE', `Request body is larger than the limit of ${error.limit ?? '?'} bytes`, undefined, options);
    case 'encoding.unsupported':
      return new AppError(415, 'UNSUPPORTED_ENCODING', 'Content-Encoding must be identity, gzip, deflate or br', undefined, options);
    case 'charset.unsupported':
      return new AppError(415, 'UNSUPPORTED_CHARSET', 'The body\'s charset is not supported; send UTF-8', undefined, options);
    case undefined: {
      // body-parser passes a decompression failure on as zlib's own error with status 400.
      const encoding = req.get('content-encoding');
      if (encoding && encoding.toLowerCase() !== 'identity') {
        return new AppError(400, 'INVALID_BODY_ENCODING', `Request body is not valid ${encoding} data`, undefined, options);
      }
      return new AppError(error.status, 'BAD_REQUEST', 'The request could not be read', undefined, options);
    }
    default:
      return new AppError(error.status, 'BAD_REQUEST', 'The request could not be read', undefined, options);
  }
}

function toAppError(error: unknown, req: Request, isProduction: boolean): AppError {
  if (error instanceof AppError) return error;
  if (isRequestReadError(error)) return fromRequestReadError(error, req);
  // A programmer error: answer 500 and keep serving; what went wrong is in the log, not the body.
  const message = isProduction ? 'Internal server error' : error instanceof Error ? error.message : String(error);
  return new AppError(500, 'INTERNAL_ERROR', message, undefined, { cause: error });
}

// The path is not echoed: a body that reflects what the client sent is a gift to an attacker.
export const notFoundHandler: RequestHandler = (req, _res, next) => {
  next(AppError.notFound(`No route for this ${req.method} request`));
};

/** The one error middleware: every error becomes `{"error":{code,message,requestId}}` (errors/error-body.ts). */
export function errorHandler(options: { isProduction: boolean }): ErrorRequestHandler {
  return (error: unknown, req, res, next) => {
    if (res.headersSent) {
      next(error);
      return;
    }
    const appError = toAppError(error, req, options.isProduction);
    // The access log (observability/access-log.ts) logs it with the response line, so each error is logged once, with its request id.
    res.err = appError.isServerError ? (appError.cause instanceof Error ? appError.cause : appError) : appError;
    const body: ErrorBody = {
      error: {
        code: appError.code,
        message: appError.message,
        requestId: req.id,
        ...(appError.details ? { details: appError.details } : {}),
      },
    };
    res.status(appError.status).json(body);
  };
}
