-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "public";

-- CreateTable
CREATE TABLE "messages" (
    "id" SERIAL NOT NULL,
    "room" VARCHAR(64) NOT NULL,
    "author" VARCHAR(128) NOT NULL,
    "body" VARCHAR(2000) NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "messages_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "messages_room_id_idx" ON "messages"("room", "id" DESC);

-- CreateIndex
CREATE INDEX "messages_created_at_idx" ON "messages"("created_at");

