-- CreateTable
CREATE TABLE "instance_health" (
    "member_id" VARCHAR(160) NOT NULL,
    "redis_ok_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "instance_health_pkey" PRIMARY KEY ("member_id")
);
