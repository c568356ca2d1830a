/**
 * Policies and limits kept on the definitions log (entries in ../state/policy-entries.ts). Callers
 * validate first (./definition.ts, ./limits.ts); the store only records and answers.
 */
import type { DefinitionsEntry, DefinitionsState } from '../state/defs-entries.js';
import type { StateLog } from '../state/state-log.js';
import type { Policy, PolicyFamily } from './definition.js';
import type { UserLimits, VhostLimits } from './limits.js';

const none: readonly Policy[] = [];

export class PolicyStore {
  readonly #log: StateLog<DefinitionsState, DefinitionsEntry>;
  #generation = 0;

  constructor(log: StateLog<DefinitionsState, DefinitionsEntry>) {
    this.#log = log;
  }

  /** Grows with every policy put or deleted: what was worked out from the policies before is stale. */
  get generation(): number {
    return this.#generation;
  }

  list(vhost: string, family: PolicyFamily): readonly Policy[] {
    const found = this.#log.state.policies.get(vhost)?.[family];
    return found === undefined ? none : [...found.values()];
  }

  get(vhost: string, family: PolicyFamily, name: string): Policy | undefined {
    return this.#log.state.policies.get(vhost)?.[family].get(name);
  }

  put(vhost: string, family: PolicyFamily, policy: Policy): Promise<void> {
    const committed = this.#log.commit({ type: 'policy.put', vhost, family, policy });
    this.#generation++;
    return committed;
  }

  async delete(vhost: string, family: PolicyFamily, name: string): Promise<boolean> {
    if (this.get(vhost, family, name) === undefined) return false;
    const committed = this.#log.commit({ type: 'policy.delete', vhost, family, name });
    this.#generation++;
    await committed;
    return true;
  }

  vhostLimits(vhost: string): VhostLimits {
    return this.#log.state.policies.get(vhost)?.limits ?? {};
  }

  setVhostLimits(vhost: string, limits: VhostLimits): Promise<void> {
    return this.#log.commit({ type: 'vhostLimits.set', vhost, limits });
  }

  userLimits(user: string): UserLimits {
    return this.#log.state.userLimits.get(user) ?? {};
  }

  allUserLimits(): Array<{ user: string; limits: UserLimits }> {
    return [...this.#log.state.userLimits].map(([user, limits]) => ({ user, limits }));
  }

  setUserLimits(user: string, limits: UserLimits): Promise<void> {
    return this.#log.commit({ type: 'userLimits.set', user, limits });
  }
}
