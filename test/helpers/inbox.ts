/** Messages as they arrive, and a wait for the first that matches (already there or still to come). */
export interface Inbox<T> {
  /** Every message so far, oldest first. */
  messages: T[];
  /**
   * The first message (already received or still to come) that matches; rejects after timeoutMs
   * (default 30 s: a bound against a hang, not a claim about speed; a loaded machine is slow).
   */
  waitFor(predicate?: (message: T) => boolean, timeoutMs?: number): Promise<T>;
}

export function createInbox<T>(noun = 'message'): Inbox<T> & { add(message: T): void } {
  const messages: T[] = [];
  const waiters = new Set<{ predicate: (m: T) => boolean; resolve: (m: T) => void }>();
  return {
    messages,
    add(message) {
      messages.push(message);
      for (const waiter of waiters) {
        if (waiter.predicate(message)) {
          waiters.delete(waiter);
          waiter.resolve(message);
        }
      }
    },
    waitFor(predicate = () => true, timeoutMs = 30_000) {
      const found = messages.find(predicate);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const waiter = {
          predicate,
          resolve: (message: T) => {
            clearTimeout(timer);
            resolve(message);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`no matching ${noun} within ${timeoutMs} ms (received ${messages.length})`));
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
  };
}
