/** `npm run token -- <user>`: prints a JWT for local use (signed with JWT_SECRET, valid 12 h). */
import { createTokenService } from '../src/auth/jwt.js';
import { loadConfigOrExit } from '../src/config/env.js';

const user = process.argv[2];
if (!user) {
  console.error('Usage: npm run token -- <user> [expiry, e.g. 12h]');
  process.exit(1);
}
const config = loadConfigOrExit();
console.log(await createTokenService(config.auth.jwtSecret).sign(user, process.argv[3]));
