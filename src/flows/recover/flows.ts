/**
 * The reset flow as persisted in reset_flows: created under the hash of its cookie id, loaded with
 * its account, and moved only along the diagram in state.ts and only from the version read (a
 * conditional update), so steps can't be skipped or replayed. No HTTP here.
 */
import type { Store } from '../../store/index.ts';
import type { User } from '../../store/users.ts';
import type { Clock } from '../../clock.ts';
import type { UserService } from '../../users/service.ts';
import { NO_ACCOUNT } from '../../users/service.ts';
import { AppError } from '../../errors.ts';
import { canMove, type FlowData, type FlowState } from './state.ts';
import { hash } from './audit.ts';
import { Service } from '../../service.ts';

export interface Flow {
  id: string;
  user: User | undefined;
  state: FlowState;
  data: FlowData;
  version: number;
  expiresAt: number;
}

export const flowExpired = () => new AppError('reset_expired');
export const wrongStep = () => new AppError('reset_wrong_step');
const conflict = () => new AppError('reset_step_conflict');

export class ResetFlows extends Service<{ store: Store; users: UserService; clock: Clock }> {
  async create(id: string, userId: string | null, state: FlowState, data: FlowData, expiresAt: number): Promise<void> {
    await this.deps.store.reset.create(hash(id), { userId, state, data: { ...data }, createdAt: this.deps.clock.now(), expiresAt });
  }

  /** The open flow of a cookie id; an unknown, malformed or expired one is `reset_expired`. */
  async load(id: string | undefined): Promise<Flow> {
    if (!id || id.length > 100) throw flowExpired();
    const row = await this.deps.store.reset.find(hash(id), this.deps.clock.now());
    if (!row) throw flowExpired();
    // A flow without an account looks one up too: the same store work as a real account's flow.
    const user = await this.deps.users.byId(row.userId ?? NO_ACCOUNT);
    return { id, user, state: row.state as FlowState, data: row.data as unknown as FlowData, version: row.version, expiresAt: row.expiresAt };
  }

  /** Moves the flow on, only along the diagram in state.ts and only from the version read. */
  async move(flow: Flow, state: FlowState, data: FlowData): Promise<Flow> {
    if (!canMove(flow.state, state)) throw wrongStep();
    if (!(await this.deps.store.reset.transition(hash(flow.id), flow.version, state, { ...data }, this.deps.clock.now()))) throw conflict();
    return { ...flow, state, data, version: flow.version + 1 };
  }

  /** The flow's last move, to done: the account changes in the same transaction (see ResetStore.finish). */
  async finish(flow: Flow, user: User, passwordHash: string | null, data: FlowData, passwordChanged = passwordHash !== null): Promise<Flow> {
    if (!canMove(flow.state, 'done')) throw wrongStep();
    if (!(await this.deps.store.reset.finish(hash(flow.id), flow.version, user.id, passwordHash, { ...data }, this.deps.clock.now(), passwordChanged))) throw conflict();
    return { ...flow, state: 'done', data, version: flow.version + 1 };
  }
}
