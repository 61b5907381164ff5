import type { IncomingHttpHeaders } from 'node:http';
import { errors, jwtVerify, SignJWT } from 'jose';
import type { z } from 'zod';
import { AppError } from '../errors/app-error.js';

export interface Identity {
  /** The token's `sub`. */
  user: string;
  /** When the token expires (ms since the epoch): a socket is disconnected then. */
  expiresAt: number;
}

export interface TokenService {
  /** Returns the identity a valid token carries; throws a 401 AppError for a missing or bad token. */
  verify(token: string | undefined): Promise<Identity>;
  sign(user: string, expiresIn?: string): Promise<string>;
}

const ALGORITHM = 'HS256';

/** The token of an `Authorization: Bearer <token>` header, if that is what it holds. */
export function bearerToken(header: string | undefined): string | undefined {
  return header?.startsWith('Bearer ') ? header.slice('Bearer '.length) : undefined;
}

/** A Socket.IO handshake's token: `auth: { token }`, or an `Authorization: Bearer` header. */
export function handshakeToken(handshake: { auth: Record<string, unknown>; headers: IncomingHttpHeaders }): string | undefined {
  const { token } = handshake.auth;
  return typeof token === 'string' ? token : bearerToken(handshake.headers.authorization);
}

/**
 * HS256 tokens. Every token must expire (`exp` is required), and its subject must pass
 * `subject`: the caller's rule for what a user id may be (api.ts passes the messages
 * feature's author rule, so a token's user always fits the column it is stored in).
 */
export function createTokenService(secret: string, options: { subject?: z.ZodType<string> } = {}): TokenService {
  const key = new TextEncoder().encode(secret);
  return {
    async verify(token) {
      if (!token) throw AppError.unauthorized('Missing bearer token');
      let payload;
      try {
        ({ payload } = await jwtVerify(token, key, { algorithms: [ALGORITHM], requiredClaims: ['exp', 'sub'] }));
      } catch (error) {
        if (error instanceof errors.JWTExpired) throw AppError.unauthorized('Token has expired');
        if (error instanceof errors.JWTClaimValidationFailed && error.reason === 'missing') {
          throw AppError.unauthorized(`Token has no ${error.claim === 'exp' ? 'expiry (exp)' : `${error.claim} claim`}`);
        }
        throw AppError.unauthorized('Invalid or expired token');
      }
      const { sub, exp } = payload;
      if (typeof sub !== 'string' || sub.length === 0) throw AppError.unauthorized('Token has no subject (sub)');
      const checked = options.subject?.safeParse(sub);
      if (checked && !checked.success) throw AppError.unauthorized(`Token subject (sub) ${checked.error.issues[0]?.message ?? 'is invalid'}`);
      // jose has checked that exp is a number in the future.
      return { user: sub, expiresAt: (exp ?? 0) * 1000 };
    },
    sign(user, expiresIn = '12h') {
      return new SignJWT({}).setProtectedHeader({ alg: ALGORITHM }).setSubject(user).setIssuedAt().setExpirationTime(expiresIn).sign(key);
    },
  };
}
