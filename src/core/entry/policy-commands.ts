/**
 * Command kinds for policies and limits (merged into `CommandSpecs`, ./commands.ts), and the client
 * methods that issue them (`PolicyClient`, part of `CoreClient`). Policies and vhost limits address
 * the caller's vhost; user limits are broker-wide. Validation is core's: the inputs are what an
 * operator sent (RabbitMQ's JSON shapes), checked by the handler.
 */

import type { Policy, PolicyFamily, PolicyInput } from '../policy/definition.js';
import type { AppliedPolicy } from '../policy/effective.js';
import type { UserLimits, VhostLimits } from '../policy/limits.js';
import type { ConnectionDescription } from '../views.js';

export type { AppliedPolicy } from '../policy/effective.js';

export interface PolicyCommandSpecs {
  'policy.list': { in: { family: PolicyFamily }; out: Policy[] };
  /** Validates `input` and sets the policy; objects it now applies to (or no longer) change at once. */
  'policy.put': { in: { family: PolicyFamily; name: string; input: PolicyInput }; out: Promise<Policy> };
  /** False when there was no such policy. */
  'policy.delete': { in: { family: PolicyFamily; name: string }; out: Promise<boolean> };
  /**
   * The policies in force on the vhost's queues or exchanges (only those named in `names`, when
   * given; names of absent objects are left out). Worked out once per object and policy change.
   */
  'policy.applied': {
    in: { objects: 'queues' | 'exchanges'; names?: readonly string[] };
    out: AppliedPolicy[];
  };
  'limits.vhost': { in: object; out: VhostLimits };
  /** `value` as sent: validated here (`max-connections`, `max-queues`; negative is no limit). */
  'limits.setVhost': { in: { name: string; value: unknown }; out: Promise<void> };
  'limits.clearVhost': { in: { name: string }; out: Promise<boolean> };
  'limits.users': { in: object; out: Array<{ user: string; limits: UserLimits }> };
  'limits.setUser': { in: { user: string; name: string; value: unknown }; out: Promise<void> };
  'limits.clearUser': { in: { user: string; name: string }; out: Promise<boolean> };
  /**
   * A front end's connection is up: it counts against its vhost's and user's `max-connections` from
   * now until `connection.close`. Throws `resourceExhausted` (RabbitMQ's text) when a limit is reached.
   */
  'connection.open': { in: { description?: ConnectionDescription }; out: void };
  /** A channel of the caller's connection opens: counts against its user's `max-channels`. */
  'channel.open': { in: object; out: void };
  'channel.close': { in: object; out: void };
}

export const policyQueryKinds = [
  'policy.list',
  'policy.applied',
  'limits.vhost',
  'limits.users',
] as const satisfies ReadonlyArray<keyof PolicyCommandSpecs>;

/**
 * Who may run each kind, as RabbitMQ decides it: policies need the `policymaker` (or `administrator`)
 * tag, operator policies (`policy.put` / `policy.delete` with family `operator`) and limits
 * `administrator`; reads need `monitoring` or more; counting one's own connection and channels needs
 * nothing beyond a login. For the authorizer (./authorize.ts), which allows everything today.
 */
export const policyCommandTags: Readonly<
  Record<keyof PolicyCommandSpecs, 'policymaker' | 'administrator' | 'monitoring' | 'login'>
> = {
  'policy.list': 'monitoring',
  'policy.put': 'policymaker',
  'policy.delete': 'policymaker',
  'policy.applied': 'monitoring',
  'limits.vhost': 'monitoring',
  'limits.setVhost': 'administrator',
  'limits.clearVhost': 'administrator',
  'limits.users': 'monitoring',
  'limits.setUser': 'administrator',
  'limits.clearUser': 'administrator',
  'connection.open': 'login',
  'channel.open': 'login',
  'channel.close': 'login',
};
