import { AppError } from '../errors/app-error.js';
import { Prisma } from '../generated/prisma/client.js';
import { TimeoutError } from '../lifecycle/timeout.js';
import { DatabaseConnectionError } from './connection-errors.js';

/**
 * Sorts a database failure by its codes, never its message text:
 * - the database cannot serve now (down, unreachable, pool busy, statement timeout,
 *   shutting down, out of connections): 503, the client may retry;
 * - the data does not fit (SQLSTATE class 22) or breaks a constraint (class 23): 4xx; the
 *   edge's validation should have caught it, so it is logged, but it is the client's input;
 * - anything else (a syntax error, a missing table...) is a bug: 500, logged with its stack.
 *
 * Prisma 7 over @prisma/adapter-pg wraps driver errors in PrismaClientKnownRequestError with
 * `meta.driverAdapterError.cause`: a `kind` the adapter derived from the SQLSTATE or socket
 * error, plus `originalCode` (the SQLSTATE) where there is one. Failures to get a connection
 * arrive as DatabaseConnectionError (connection-errors.ts).
 */

type Verdict = 'unavailable' | 'busy' | 'timeout' | 'invalid' | 'conflict' | 'not-found' | 'bug';

const BY_KIND: Record<string, Verdict> = {
  DatabaseNotReachable: 'unavailable',
  ConnectionClosed: 'unavailable',
  SocketTimeout: 'unavailable',
  TlsConnectionError: 'unavailable',
  DatabaseDoesNotExist: 'unavailable',
  DatabaseAccessDenied: 'unavailable',
  AuthenticationFailed: 'unavailable',
  TooManyConnections: 'busy',
  TransactionWriteConflict: 'busy',
  LengthMismatch: 'invalid',
  ValueOutOfRange: 'invalid',
  InvalidInputValue: 'invalid',
  NullConstraintViolation: 'invalid',
  UniqueConstraintViolation: 'conflict',
  ForeignKeyConstraintViolation: 'conflict',
  RestrictViolation: 'conflict',
};

/** PostgreSQL SQLSTATE (appendix A of its manual): the exact code first, then its class. */
function bySqlState(code: string): Verdict {
  if (code === '57014') return 'timeout'; // query_canceled: statement_timeout
  if (code === '23502') return 'invalid'; // not_null_violation
  switch (code.slice(0, 2)) {
    case '08': // connection exception
    case '57': // operator intervention: admin/crash shutdown, cannot connect now
    case '28': // invalid authorization
    case '3D': // invalid catalog name: the database does not exist
      return 'unavailable';
    case '53': // insufficient resources: too many connections, out of memory or disk
    case '40': // transaction rollback: serialization failure, deadlock
      return 'busy';
    case '22': // data exception: out of range, too long, bad encoding (NUL)
      return 'invalid';
    case '23': // integrity constraint violation
      return 'conflict';
    default:
      return 'bug';
  }
}

/** Prisma's own codes, for errors that carry no driver error. */
const BY_PRISMA_CODE: Record<string, Verdict> = {
  P1001: 'unavailable', // can't reach database server
  P1002: 'unavailable', // reached but timed out
  P1003: 'unavailable', // database does not exist
  P1017: 'unavailable', // server closed the connection
  P1008: 'timeout', // operations timed out
  P2024: 'busy', // timed out fetching a connection from the pool
  P2034: 'busy', // write conflict or deadlock
  P2000: 'invalid', // value too long for the column
  P2006: 'invalid', // invalid value
  P2007: 'invalid', // data validation error
  P2011: 'invalid', // null constraint
  P2020: 'invalid', // value out of range
  P2002: 'conflict', // unique constraint
  P2003: 'conflict', // foreign key
  P2025: 'not-found', // record required but not found
};

interface DriverCause {
  kind?: unknown;
  originalCode?: unknown;
  code?: unknown;
}

function verdictOf(error: unknown): Verdict {
  if (error instanceof DatabaseConnectionError) return error.reason === 'busy' ? 'busy' : 'unavailable';
  if (error instanceof TimeoutError) return 'timeout';
  if (error instanceof Prisma.PrismaClientInitializationError) return 'unavailable';
  if (error instanceof Prisma.PrismaClientKnownRequestError) {
    const cause = (error.meta?.driverAdapterError as { cause?: DriverCause } | undefined)?.cause;
    const sqlState = typeof cause?.originalCode === 'string' ? cause.originalCode : typeof cause?.code === 'string' ? cause.code : undefined;
    if (typeof cause?.kind === 'string' && cause.kind in BY_KIND) return BY_KIND[cause.kind] ?? 'bug';
    if (sqlState && /^[0-9A-Z]{5}$/.test(sqlState)) return bySqlState(sqlState);
    return BY_PRISMA_CODE[error.code] ?? 'bug';
  }
  return 'bug';
}

/** The AppError a failed database operation answers with; the original is kept as its cause, for the log only. */
export function databaseError(operation: string, error: unknown): AppError {
  const options = { cause: error };
  switch (verdictOf(error)) {
    case 'unavailable':
      return AppError.unavailable('DATABASE_UNAVAILABLE', `Database is unavailable (${operation}); retry shortly`, error);
    case 'busy':
      return AppError.unavailable('DATABASE_BUSY', `Database is busy (${operation}); retry shortly`, error);
    case 'timeout':
      return AppError.unavailable('DATABASE_TIMEOUT', `Database did not answer in time (${operation}); retry shortly`, error);
    case 'invalid':
      return new AppError(400, 'INVALID_VALUE', `A value does not fit the database (${operation})`, undefined, options);
    case 'conflict':
      return new AppError(409, 'CONFLICT', `The change conflicts with stored data (${operation})`, undefined, options);
    case 'not-found':
      return new AppError(404, 'NOT_FOUND', `Not found (${operation})`, undefined, options);
    case 'bug':
      return new AppError(500, 'INTERNAL_ERROR', `Database operation failed (${operation})`, undefined, options);
  }
}
