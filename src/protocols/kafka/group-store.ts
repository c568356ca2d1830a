/**
 * Durable consumer-group metadata, the counterpart of the group records Kafka keeps in
 * `__consumer_offsets`: generation, protocol type and name, leader, and per member its ids, client,
 * timeouts, subscription metadata and assignment. Core keeps it as the membership record of the
 * group object (with the group's offsets, in the group's own log); this is the coordinator's thin
 * mapping onto those commands. A record past core's bounds is not written: the stored one is removed
 * instead, so after a restart that group's members rejoin (the behaviour without persistence) rather
 * than carry on from an outdated generation.
 */
import type { CoreClient, GroupMember, GroupMembership } from '../../core/api.js';

export {
  membershipBytesMax as storedGroupBytesMax,
  membershipMembersMax as storedGroupMembersMax,
} from '../../core/groups.js';

export type StoredMember = GroupMember;

export interface StoredGroup extends GroupMembership {
  readonly id: string;
}

export class GroupStore {
  readonly #core: CoreClient;

  /** `core` addresses the vhost whose groups these are. */
  constructor(core: CoreClient) {
    this.#core = core;
  }

  /**
   * Every group of the vhost whose membership record `coordinator` keeps (undefined: the classic
   * coordinator, `consumer`: the KIP-848 one), at most `groupsMax`.
   */
  load(groupsMax: number, coordinator?: string): StoredGroup[] {
    const groups: StoredGroup[] = [];
    for (const { name, membership } of this.#core.listGroups()) {
      if (groups.length >= groupsMax) break;
      if (membership !== undefined && membership.coordinator === coordinator)
        groups.push({ id: name, ...membership });
    }
    return groups;
  }

  /** Writes the group's record; false when it is past core's bounds (the stored one is removed). */
  save(group: StoredGroup): Promise<boolean> {
    const { id, ...membership } = group;
    return this.#core.saveGroupMembership(id, membership);
  }

  /** Whether the group holds committed offsets. */
  hasOffsets(groupId: string): boolean {
    return this.#core.groupOffsets(groupId).length > 0;
  }

  /** The group is deleted (DeleteGroups): its record and its offsets go. */
  remove(groupId: string): Promise<void> {
    return this.#core.deleteGroup(groupId);
  }
}
