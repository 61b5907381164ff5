import { jwtVerify, SignJWT } from 'jose';
import { AppError } from '../errors/app-error.js';

export interface TokenService {
  /** Returns the user (the token's `sub`); throws a 401 AppError for a missing or bad token. */
  verify(token: string | undefined): Promise<string>;
  sign(user: string, expiresIn?: string): Promise<string>;
}

const ALGORITHM = 'HS256';

/** The token of an `Authorization: Bearer <token>` header, if that is what it holds. */
export function bearerToken(header: string | undefined): string | undefined {
  return header?.startsWith('Bearer ') ? header.slice('Bearer '.length) : undefined;
}

export function createTokenService(secret: string): TokenService {
  const key = new TextEncoder().encode(secret);
  return {
    async verify(token) {
      if (!token) throw AppError.unauthorized('Missing bearer token');
      try {
        const { payload } = await jwtVerify(token, key, { algorithms: [ALGORITHM] });
        if (typeof payload.sub !== 'string' || payload.sub.length === 0) {
          throw AppError.unauthorized('Token has no subject');
        }
        return payload.sub;
      } catch (error) {
        if (error instanceof AppError) throw error;
        throw AppError.unauthorized('Invalid or expired token');
      }
    },
    sign(user, expiresIn = '12h') {
      return new SignJWT({}).setProtectedHeader({ alg: ALGORITHM }).setSubject(user).setIssuedAt().setExpirationTime(expiresIn).sign(key);
    },
  };
}
