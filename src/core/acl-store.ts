/** The store of ACL bindings over the definitions log, with their compiled index (./acls.ts). */
import { brokerError, ErrorCode } from '../shared/errors.js';
import { AclIndex } from './acl-index.js';
import {
  type AclBinding,
  type AclFilter,
  aclBindingKey,
  aclBindingsMax,
  aclFilterMatches,
  anyAcl,
  checkAclBinding,
  checkAclFilter,
} from './acls.js';
import type { DefinitionsLog } from './permissions.js';

/** The log the store writes, with the generation that moves on every change of access (../definitions.ts). */
export interface AclLog extends DefinitionsLog {
  readonly generation: number;
}

export class AclStore {
  readonly #log: AclLog;
  #index: AclIndex | undefined;
  #indexGeneration = -1;

  constructor(log: AclLog) {
    this.#log = log;
  }

  list(filter: AclFilter = anyAcl): AclBinding[] {
    checkAclFilter(filter);
    const out: AclBinding[] = [];
    for (const b of this.#log.state.acls.values()) if (aclFilterMatches(filter, b)) out.push(b);
    return out;
  }

  /** Creates each binding not already there; refuses them all when one is invalid. */
  async create(bindings: readonly AclBinding[]): Promise<void> {
    for (const b of bindings) checkAclBinding(b);
    const acls = this.#log.state.acls;
    const fresh = bindings.filter((b) => !acls.has(aclBindingKey(b)));
    if (acls.size + fresh.length > aclBindingsMax)
      throw brokerError(ErrorCode.resourceExhausted, `At most ${aclBindingsMax} ACL bindings are kept`);
    for (const b of fresh) await this.#log.commit({ type: 'acl.put', binding: copyOf(b) });
    // A binding there already may be another request's, still being written.
    await this.#log.settled();
  }

  /** Deletes what each filter matches; answers, per filter, the bindings it matched. */
  async delete(filters: readonly AclFilter[]): Promise<AclBinding[][]> {
    for (const f of filters) checkAclFilter(f);
    const matched = filters.map((f) => this.list(f));
    const gone = new Map<string, AclBinding>();
    for (const list of matched) for (const b of list) gone.set(aclBindingKey(b), b);
    for (const binding of gone.values()) await this.#log.commit({ type: 'acl.delete', binding });
    await this.#log.settled();
    return matched;
  }

  /** The bindings compiled for decisions, compiled again after any change of access. */
  get index(): AclIndex {
    const generation = this.#log.generation;
    if (this.#index === undefined || this.#indexGeneration !== generation) {
      this.#index = new AclIndex(this.#log.state.acls.values());
      this.#indexGeneration = generation;
    }
    return this.#index;
  }
}

function copyOf(b: AclBinding): AclBinding {
  const { resourceType, resourceName, patternType, principal, host, operation, permission } = b;
  return { resourceType, resourceName, patternType, principal, host, operation, permission };
}
