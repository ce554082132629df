/** Messages kept in the database when no mail server or phone gateway is configured. */
import type { ChannelName } from '../delivery/channel.ts';
import { Repository, type Row } from './repository.ts';

export interface OutboxMessage {
  id: number;
  channel: ChannelName;
  recipient: string;
  subject: string | null;
  body: string;
  userId: string | null;
  createdAt: number;
}

export class OutboxStore extends Repository {
  async add(message: Omit<OutboxMessage, 'id'>): Promise<void> {
    await this.db('outbox').insert({
      channel: message.channel,
      recipient: message.recipient,
      subject: message.subject,
      body: message.body,
      user_id: message.userId,
      created_at: message.createdAt,
    });
  }

  /** Newest first, for a user id or a recipient address. */
  async latest(filter: { userId?: string; recipient?: string }, limit = 10): Promise<OutboxMessage[]> {
    const q = this.db<Row>('outbox').orderBy('id', 'desc').limit(limit);
    if (filter.userId) q.where({ user_id: filter.userId });
    if (filter.recipient) q.where({ recipient: filter.recipient });
    const rows = await q;
    return rows.map((r) => ({
      id: Number(r.id),
      channel: r.channel as OutboxMessage['channel'],
      recipient: String(r.recipient),
      subject: (r.subject as string | null) ?? null,
      body: String(r.body),
      userId: (r.user_id as string | null) ?? null,
      createdAt: Number(r.created_at),
    }));
  }

  async purgeOlderThan(before: number): Promise<number> {
    return this.db('outbox').where('created_at', '<', before).delete();
  }
}
