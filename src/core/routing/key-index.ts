/**
 * The reverse of the topic matcher: routing keys held in a trie by word, asked which of them a pattern
 * matches (`*` one word, `#` zero or more, as in ./topic.ts). The retained set answers every new
 * subscription with it: looking at each retained message instead cost a subscribe 260 ms of the
 * event loop at 200,000 retained messages, whatever the filter.
 */
import { splitWords, type WordNode, wordNodeAt } from './topic.js';

interface KeyNode extends WordNode<KeyNode> {
  readonly id: number;
  /** Set when a key ends here: its place in the order keys were added. */
  order: number | undefined;
}

export class KeyIndex {
  #nextId = 0;
  #nextOrder = 0;
  readonly #root: KeyNode = this.#node();
  #size = 0;

  get size(): number {
    return this.#size;
  }

  /** Adds `key` (once: a key present keeps its place). */
  add(key: string): void {
    const node = wordNodeAt(this.#root, splitWords(key), () => this.#node());
    if (node.order !== undefined) return;
    node.order = this.#nextOrder++;
    this.#size++;
  }

  /** Removes `key`, pruning emptied branches. */
  remove(key: string): void {
    const path: Array<[KeyNode, string]> = [];
    let node = this.#root;
    for (const word of splitWords(key)) {
      const next = node.children.get(word);
      if (next === undefined) return;
      path.push([node, word]);
      node = next;
    }
    if (node.order === undefined) return;
    node.order = undefined;
    this.#size--;
    for (let i = path.length - 1; i >= 0; i--) {
      const [parent, word] = path[i]!;
      const child = parent.children.get(word)!;
      if (child.order !== undefined || child.children.size > 0) break;
      parent.children.delete(word);
    }
  }

  clear(): void {
    this.#root.children.clear();
    this.#root.order = undefined;
    this.#size = 0;
  }

  /** The keys `pattern` matches, in the order they were added. */
  match(pattern: string): string[] {
    const found = new Map<number, string>();
    this.#walk(this.#root, [], splitWords(pattern), 0, found, new Set());
    return [...found.entries()].sort((a, b) => a[0] - b[0]).map(([, key]) => key);
  }

  #walk(
    node: KeyNode,
    path: string[],
    words: readonly string[],
    at: number,
    found: Map<number, string>,
    seen: Set<number>,
  ): void {
    // Several '#' in a pattern reach one (node, position) many ways; each is looked at once.
    const visit = node.id * (words.length + 1) + at;
    if (seen.has(visit)) return;
    seen.add(visit);
    if (at === words.length) {
      if (node.order !== undefined) found.set(node.order, path.join('.'));
      return;
    }
    const word = words[at]!;
    if (word === '#') this.#walk(node, path, words, at + 1, found, seen);
    if (word === '#' || word === '*') {
      const next = word === '#' ? at : at + 1;
      for (const [childWord, child] of node.children) {
        path.push(childWord);
        this.#walk(child, path, words, next, found, seen);
        path.pop();
      }
      return;
    }
    const child = node.children.get(word);
    if (child === undefined) return;
    path.push(word);
    this.#walk(child, path, words, at + 1, found, seen);
    path.pop();
  }

  #node(): KeyNode {
    return { id: this.#nextId++, children: new Map(), order: undefined };
  }
}
