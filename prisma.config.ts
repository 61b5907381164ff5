import { defineConfig } from 'prisma/config';

// Prisma's CLI reads this file; the app itself gets DATABASE_URL from src/config/env.ts.
// The fallback matches that module's default so `prisma migrate status` works with no .env.
export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: {
    url: process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/express_pm2_cluster',
  },
});
