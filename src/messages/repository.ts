import { guarded } from '../data/guarded.js';
import type { PrismaClient } from '../generated/prisma/client.js';
import type { RoomActivity, StoredMessage } from './schema.js';

export interface MessageRepository {
  create(input: { room: string; author: string; body: string }): Promise<StoredMessage>;
  /** Newest first; `before` is the id of the oldest message the caller already has. */
  listLatest(room: string, options: { limit: number; before?: number | undefined }): Promise<StoredMessage[]>;
  /** Oldest first: the messages newer than `after`, the highest id the caller already holds. */
  listAfter(room: string, options: { limit: number; after: number }): Promise<StoredMessage[]>;
  /** The newest message id in `room` created before `before` (0 when none): the resync point after a fan-out gap. */
  lastIdBefore(room: string, before: Date): Promise<number>;
  /** Messages per room created in [from, to). */
  activityBetween(from: Date, to: Date): Promise<RoomActivity[]>;
  deleteOlderThan(cutoff: Date): Promise<number>;
}

function toStored(row: { id: number; room: string; author: string; body: string; createdAt: Date }): StoredMessage {
  return { id: row.id, room: row.room, author: row.author, body: row.body, createdAt: row.createdAt.toISOString() };
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
    listAfter: (room, { limit, after }) =>
      guarded('list messages', async () => {
        const rows = await prisma.message.findMany({ where: { room, id: { gt: after } }, orderBy: { id: 'asc' }, take: limit });
        return rows.map(toStored);
      }),
    lastIdBefore: (room, before) =>
      guarded('resync point', async () => {
        // Walks the (room, id desc) index from the newest message back to the cutoff: only the gap's rows.
        const row = await prisma.message.findFirst({ where: { room, createdAt: { lt: before } }, orderBy: { id: 'desc' }, select: { id: true } });
        return row?.id ?? 0;
      }),
    activityBetween: (from, to) =>
      guarded('room activity', async () => {
        const groups = await prisma.message.groupBy({ by: ['room'], where: { createdAt: { gte: from, lt: to } }, _count: { _all: true } });
        return groups.map((g) => ({ room: g.room, messages: g._count._all }));
      }),
    deleteOlderThan: (cutoff) =>
      guarded('prune messages', async () => (await prisma.message.deleteMany({ where: { createdAt: { lt: cutoff } } })).count),
  };
}
