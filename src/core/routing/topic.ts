/**
 * The one topic matcher (AMQP 0-9-1 topic exchange semantics; MQTT maps `/`→`.`, `+`→`*` onto it).
 *
 * A routing key is split on '.' into words ('' is zero words, as RabbitMQ splits it). In a pattern,
 * `*` matches exactly one word and `#` matches zero or more. Patterns live in a trie keyed by word, so
 * matching costs depend on the key's length and the wildcards along its path, not on the number of
 * bindings. Results for recent keys are cached; any bind or unbind clears the cache.
 */

/** Keys remembered with their result; the cache is dropped wholesale when it reaches this size. */
const cacheEntriesMax = 4096;
/** Keys longer than this are matched but never cached, so a flood of long keys cannot pin memory. */
const cacheKeyCharsMax = 256;

interface Node<T> extends WordNode<Node<T>> {
  readonly id: number;
  /** Values whose pattern ends at this node. */
  readonly values: Set<T>;
}

export function splitWords(key: string): string[] {
  return key === '' ? [] : key.split('.');
}

/** A trie node keyed by word (this matcher's, and ./key-index.ts's). */
export interface WordNode<N> {
  readonly children: Map<string, N>;
}

/** The node `words` lead to from `root`, made with `make` where missing. */
export function wordNodeAt<N extends WordNode<N>>(root: N, words: readonly string[], make: () => N): N {
  let node = root;
  for (const word of words) {
    let next = node.children.get(word);
    if (next === undefined) {
      next = make();
      node.children.set(word, next);
    }
    node = next;
  }
  return node;
}

export class TopicMatcher<T> {
  #nextId = 0;
  #root: Node<T> = this.#node();
  #size = 0;
  #cache = new Map<string, ReadonlySet<T>>();

  /** Number of (pattern, value) pairs held. */
  get size(): number {
    return this.#size;
  }

  /** Adds `value` under `pattern`; returns false when that pair was already present. */
  add(pattern: string, value: T): boolean {
    const node = wordNodeAt(this.#root, splitWords(pattern), () => this.#node());
    if (node.values.has(value)) return false;
    node.values.add(value);
    this.#size++;
    this.#cache.clear();
    return true;
  }

  /** Removes the pair; prunes emptied branches. Returns false when it was absent. */
  remove(pattern: string, value: T): boolean {
    const path: Array<[Node<T>, string]> = [];
    let node = this.#root;
    for (const word of splitWords(pattern)) {
      const next = node.children.get(word);
      if (next === undefined) return false;
      path.push([node, word]);
      node = next;
    }
    if (!node.values.delete(value)) return false;
    this.#size--;
    this.#cache.clear();
    for (let i = path.length - 1; i >= 0; i--) {
      const [parent, word] = path[i]!;
      const child = parent.children.get(word)!;
      if (child.values.size > 0 || child.children.size > 0) break;
      parent.children.delete(word);
    }
    return true;
  }

  /** Every value whose pattern matches `key`, each once. The returned set must not be modified. */
  match(key: string): ReadonlySet<T> {
    const cached = this.#cache.get(key);
    if (cached !== undefined) return cached;
    const found = new Set<T>();
    const words = splitWords(key);
    this.#walk(this.#root, words, 0, found, new Set<number>());
    if (key.length <= cacheKeyCharsMax) {
      if (this.#cache.size >= cacheEntriesMax) this.#cache.clear();
      this.#cache.set(key, found);
    }
    return found;
  }

  #walk(node: Node<T>, words: string[], at: number, found: Set<T>, seen: Set<number>): void {
    // Several '#' on one path can reach the same (node, position) many ways; visit each once.
    const visit = node.id * (words.length + 1) + at;
    if (seen.has(visit)) return;
    seen.add(visit);
    if (at === words.length) {
      for (const value of node.values) found.add(value);
    } else {
      const exact = node.children.get(words[at]!);
      if (exact !== undefined) this.#walk(exact, words, at + 1, found, seen);
      const star = node.children.get('*');
      if (star !== undefined) this.#walk(star, words, at + 1, found, seen);
    }
    const hash = node.children.get('#');
    if (hash === undefined) return;
    for (let next = at; next <= words.length; next++) this.#walk(hash, words, next, found, seen);
  }

  #node(): Node<T> {
    return { id: this.#nextId++, children: new Map(), values: new Set() };
  }
}
