import type { PrismaClient } from '../generated/prisma/client.js';
import { AppError } from '../errors/app-error.js';

export interface StoredMessage {
  id: number;
  room: string;
  author: string;
  body: string;
  createdAt: string;
}

export interface RoomActivity {
  room: string;
  messages: number;
}

export interface MessageRepository {
  create(input: { room: string; author: string; body: string }): Promise<StoredMessage>;
  /** Newest first; `before` is the id of the oldest message the caller already has. */
  listLatest(room: string, options: { limit: number; before?: number | undefined }): Promise<StoredMessage[]>;
  activitySince(since: Date): Promise<RoomActivity[]>;
  deleteOlderThan(cutoff: Date): Promise<number>;
}

function toStored(row: { id: number; room: string; author: string; body: string; createdAt: Date }): StoredMessage {
  return { id: row.id, room: row.room, author: row.author, body: row.body, createdAt: row.createdAt.toISOString() };
}

/**
 * Every database failure (down, pool exhausted, statement timeout) is an operational error the
 * caller can retry: it becomes a 503 with a clear code, and the driver's text stays in the log.
 */
async function guarded<T>(operation: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    const text = error instanceof Error ? error.message : String(error);
    const exhausted = /timeout exceeded when trying to connect/i.test(text);
    throw AppError.unavailable(
      exhausted ? 'DATABASE_BUSY' : 'DATABASE_UNAVAILABLE',
      exhausted ? `Database is busy (${operation}); retry shortly` : `Database is unavailable (${operation}); retry shortly`,
      error,
    );
  }
}

export function createMessageRepository(prisma: PrismaClient): MessageRepository {
  return {
    create: (input) => guarded('create message', async () => toStored(await prisma.message.create({ data: input }))),
    listLatest: (room, { limit, before }) =>
      guarded('list messages', async () => {
        const rows = await prisma.message.findMany({
          where: { room, ...(before !== undefined ? { id: { lt: before } } : {}) },
          orderBy: { id: 'desc' },
          take: limit,
        });
        return rows.map(toStored);
      }),
    activitySince: (since) =>
      guarded('room activity', async () => {
        const groups = await prisma.message.groupBy({ by: ['room'], where: { createdAt: { gte: since } }, _count: { _all: true } });
        return groups.map((g) => ({ room: g.room, messages: g._count._all }));
      }),
    deleteOlderThan: (cutoff) =>
      guarded('prune messages', async () => (await prisma.message.deleteMany({ where: { createdAt: { lt: cutoff } } })).count),
  };
}
