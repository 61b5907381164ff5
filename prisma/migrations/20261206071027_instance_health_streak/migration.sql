-- AlterTable
ALTER TABLE "instance_health" ADD COLUMN     "redis_ok_since" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP;

