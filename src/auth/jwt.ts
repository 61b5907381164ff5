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
/**
 * How far ahead of this server's clock a token's `iat`/`nbf` may be: the signer's clock may run
 * a little fast (NTP keeps hosts within well under a second; a minute covers a poor one), but
 * no more, so a token cannot be dated into the future to outlive JWT_MAX_TTL.
 */
export const CLOCK_SKEW_SECONDS = 60;

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
 * HS256 tokens. Every token must expire (`exp` is required), within `maxTtlSeconds` of when it
 * was issued (`iat`, or now for a token without one), and its subject must pass
 * `subject`: the caller's rule for what a user id may be (api.ts passes the messages
 * feature's author rule, so a token's user always fits the column it is stored in).
 * `iat` and `nbf` may be at most CLOCK_SKEW_SECONDS ahead of this server's clock.
 */
export function createTokenService(secret: string, options: { subject?: z.ZodType<string>; maxTtlSeconds?: number } = {}): TokenService {
  const maxTtl = options.maxTtlSeconds ?? 86_400;
  const key = new TextEncoder().encode(secret);
  return {
    async verify(token) {
      if (!token) throw AppError.unauthorized('Missing bearer token');
      let payload;
      try {
        // The tolerance is for nbf; exp is checked without one below.
        ({ payload } = await jwtVerify(token, key, { algorithms: [ALGORITHM], requiredClaims: ['exp', 'sub'], clockTolerance: CLOCK_SKEW_SECONDS }));
      } catch (error) {
        if (error instanceof errors.JWTExpired) throw AppError.unauthorized('Token has expired');
        if (error instanceof errors.JWTClaimValidationFailed && error.claim === 'nbf' && error.reason === 'check_failed') {
          throw AppError.unauthorized(`Token is not valid yet (nbf is more than ${CLOCK_SKEW_SECONDS} s ahead)`);
        }
        if (error instanceof errors.JWTClaimValidationFailed && error.reason === 'missing') {
          throw AppError.unauthorized(`Token has no ${error.claim === 'exp' ? 'expiry (exp)' : `${error.claim} claim`}`);
        }
        throw AppError.unauthorized('Invalid or expired token');
      }
      const { sub, exp = 0, iat } = payload;
      const now = Date.now() / 1000;
      if (exp <= now) throw AppError.unauthorized('Token has expired');
      if (iat !== undefined && iat > now + CLOCK_SKEW_SECONDS) throw AppError.unauthorized(`Token is issued in the future (iat is more than ${CLOCK_SKEW_SECONDS} s ahead)`);
      if (exp - (iat ?? now) > maxTtl) throw AppError.unauthorized(`Token lives longer than the maximum of ${maxTtl} s (exp - iat)`);
      if (typeof sub !== 'string' || sub.length === 0) throw AppError.unauthorized('Token has no subject (sub)');
      const checked = options.subject?.safeParse(sub);
      if (checked && !checked.success) throw AppError.unauthorized(`Token subject (sub) ${checked.error.issues[0]?.message ?? 'is invalid'}`);
      return { user: sub, expiresAt: exp * 1000 };
    },
    sign(user, expiresIn = '12h') {
      return new SignJWT({}).setProtectedHeader({ alg: ALGORITHM }).setSubject(user).setIssuedAt().setExpirationTime(expiresIn).sign(key);
    },
  };
}
