// Prisma 6.19 with the JS (WebAssembly) schema engine, talking to PostgreSQL through the
// 7.x pg adapter (6.19's own adapter fails on migrate: prisma/orm#27403). The test passes
// the schema path with --schema and the database in DATABASE_URL.
import { PrismaPg } from '@prisma/adapter-pg';

export default {
  experimental: { adapter: true },
  engine: 'js',
  adapter: () => Promise.resolve(new PrismaPg({ connectionString: process.env.DATABASE_URL })),
};
