/** The outbox transport: messages kept in the database when no mail server or gateway is configured. */
import type { OutboxStore } from '../store/outbox.ts';
import type { Logger } from '../logging.ts';
import type { Clock } from '../clock.ts';
import type { ChannelName, Transport } from './channel.ts';

export interface OutboxDeps {
  outbox: OutboxStore;
  log: Logger;
  clock: Clock;
}

/** Stores a message as one outbox row; logs `${event}.outbox` with the masked fields only. */
export function outboxTransport<M extends { to: string; text: string; userId?: string }>(
  deps: OutboxDeps,
  event: string,
  row: (message: M) => { channel: ChannelName; subject: string | null },
): Transport<M, unknown> {
  return {
    async send(message, _config, fields) {
      await deps.outbox.add({
        ...row(message),
        recipient: message.to,
        body: message.text,
        userId: message.userId ?? null,
        createdAt: deps.clock.now(),
      });
      deps.log.info({ event: `${event}.outbox`, ...fields });
    },
  };
}
