/**
 * ACL bindings compiled for deciding, with the rules of Kafka's StandardAuthorizer: the bindings that
 * apply to a resource are its literal ones, the literal `*` ones and the prefixed ones whose prefix
 * begins its name; among those that name the principal (or `User:*`), the host (or `*`) and the
 * operation, a DENY wins over any ALLOW. An ALLOW of READ, WRITE, DELETE or ALTER also allows
 * DESCRIBE, and one of ALTER_CONFIGS DESCRIBE_CONFIGS; ALL is every operation. A resource no binding
 * applies to at all is left to the caller (`none`). Lookups are map hits: one for the name, one for
 * `*` and one per distinct prefix length.
 */
import {
  type AclAction,
  type AclBinding,
  type AclOperation,
  type AclResourceType,
  aclWildcard,
  anyPrincipal,
} from './acls.js';

export type AclDecision = 'allowed' | 'denied' | 'none';

/** Who asks, as Kafka names it, and from where. */
export interface AclRequester {
  /** `User:<name>`, or `User:ANONYMOUS` for a client that did not authenticate. */
  readonly principal: string;
  /** The client's IP address. */
  readonly host: string;
}

interface Section {
  readonly literal: Map<string, AclBinding[]>;
  readonly prefixed: Map<string, AclBinding[]>;
  /** The distinct lengths of the prefixes, ascending. */
  prefixLengths: number[];
}

const impliesDescribe: ReadonlySet<AclOperation> = new Set(['DESCRIBE', 'READ', 'WRITE', 'DELETE', 'ALTER']);
const impliesDescribeConfigs: ReadonlySet<AclOperation> = new Set(['DESCRIBE_CONFIGS', 'ALTER_CONFIGS']);

/** What one binding says about the action: ALLOW, DENY, or nothing (it names another principal, host or operation). */
function verdict(b: AclBinding, who: AclRequester, operation: AclOperation): 'ALLOW' | 'DENY' | undefined {
  if (b.principal !== who.principal && b.principal !== anyPrincipal) return undefined;
  if (b.host !== aclWildcard && b.host !== who.host) return undefined;
  if (b.operation !== 'ALL' && b.operation !== operation) {
    // Only an ALLOW implies the describing operations; a DENY refuses what it names.
    if (b.permission === 'DENY') return undefined;
    if (operation === 'DESCRIBE' && !impliesDescribe.has(b.operation)) return undefined;
    if (operation === 'DESCRIBE_CONFIGS' && !impliesDescribeConfigs.has(b.operation)) return undefined;
    if (operation !== 'DESCRIBE' && operation !== 'DESCRIBE_CONFIGS') return undefined;
  }
  return b.permission;
}

function push(map: Map<string, AclBinding[]>, key: string, b: AclBinding): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [b]);
  else list.push(b);
}

export class AclIndex {
  readonly #sections = new Map<AclResourceType, Section>();
  readonly size: number;

  constructor(bindings: Iterable<AclBinding>) {
    let size = 0;
    for (const b of bindings) {
      size++;
      let section = this.#sections.get(b.resourceType);
      if (section === undefined) {
        section = { literal: new Map(), prefixed: new Map(), prefixLengths: [] };
        this.#sections.set(b.resourceType, section);
      }
      push(b.patternType === 'LITERAL' ? section.literal : section.prefixed, b.resourceName, b);
    }
    for (const section of this.#sections.values()) {
      section.prefixLengths = [...new Set([...section.prefixed.keys()].map((p) => p.length))].sort(
        (a, b) => a - b,
      );
    }
    this.size = size;
  }

  /** Kafka's decision for one action; `none` when no binding applies to the resource at all. */
  decide(who: AclRequester, action: AclAction): AclDecision {
    const section = this.#sections.get(action.resourceType);
    if (section === undefined) return 'none';
    const name = action.resourceName;
    let found = false;
    let allowed = false;
    const visit = (list: readonly AclBinding[] | undefined): boolean => {
      if (list === undefined) return false;
      found = true;
      for (const b of list) {
        const v = verdict(b, who, action.operation);
        if (v === 'DENY') return true;
        if (v === 'ALLOW') allowed = true;
      }
      return false;
    };
    if (visit(section.literal.get(name))) return 'denied';
    if (name !== aclWildcard && visit(section.literal.get(aclWildcard))) return 'denied';
    for (const length of section.prefixLengths) {
      if (length > name.length) break;
      if (visit(section.prefixed.get(name.slice(0, length)))) return 'denied';
    }
    return allowed ? 'allowed' : found ? 'denied' : 'none';
  }

  /**
   * Whether the requester may do `operation` on at least one resource of the type (KIP-679, as
   * Kafka's Authorizer.authorizeByResourceType): an ALLOW it holds that no DENY of its own covers.
   * The caller first asks about one literal name, as Kafka does, so resources without bindings count.
   */
  allowsSomeOf(who: AclRequester, resourceType: AclResourceType, operation: AclOperation): boolean {
    const section = this.#sections.get(resourceType);
    if (section === undefined) return false;
    const applies = (b: AclBinding): boolean =>
      (b.principal === who.principal || b.principal === anyPrincipal) &&
      (b.host === aclWildcard || b.host === who.host) &&
      (b.operation === operation || b.operation === 'ALL');
    const denyLiteral = new Set<string>();
    const denyPrefixed = new Set<string>();
    const allows: AclBinding[] = [];
    for (const [map, deny] of [
      [section.literal, denyLiteral],
      [section.prefixed, denyPrefixed],
    ] as const) {
      for (const list of map.values()) {
        for (const b of list) {
          if (!applies(b)) continue;
          if (b.permission === 'ALLOW') allows.push(b);
          else if (b.patternType === 'LITERAL' && b.resourceName === aclWildcard) return false;
          else deny.add(b.resourceName);
        }
      }
    }
    for (const b of allows) {
      if (b.patternType === 'LITERAL' && b.resourceName === aclWildcard) return true;
      if (b.patternType === 'LITERAL' && denyLiteral.has(b.resourceName)) continue;
      let dominated = false;
      for (let i = 1; i <= b.resourceName.length && !dominated; i++)
        dominated = denyPrefixed.has(b.resourceName.slice(0, i));
      if (!dominated) return true;
    }
    return false;
  }
}
