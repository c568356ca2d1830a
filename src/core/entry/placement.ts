/**
 * Where a command runs. Every object (a queue, a stream partition, a session, a group) is owned by one
 * node; a single node owns them all. In a cluster this is where a command on an object another node
 * leads is forwarded to that node instead of run here (docs/architecture.md, "Commands").
 */
import type { Command } from './commands.js';
import type { CallerContext } from './context.js';

export interface Placement {
  /** True when this node runs `command`; false sends it to the object's leader. */
  runsHere(context: CallerContext, command: Command): boolean;
}

export const singleNode: Placement = {
  runsHere: () => true,
};
