/**
 * Topic regular expressions of KIP-848 consumer groups (ConsumerGroupHeartbeat's SubscribedTopicRegex).
 * Kafka evaluates them with RE2/J, whose matching time is linear in the topic name whatever the
 * pattern; JavaScript's RegExp backtracks, so a pattern from a client such as `(a|a)*b` could hold
 * the event loop for years. So the RE2 syntax is parsed here and matched by a Thompson automaton
 * (every state advanced together, one pass over the name): time at most name length × states, both
 * bounded. Single characters are tested by predicates (literal, class, `\p{…}` through a one-character
 * JavaScript RegExp, which cannot backtrack). As in Kafka, a topic matches when the whole name does
 * (`Matcher.matches()`).
 *
 * RE2 syntax accepted: literals and `\` escapes (`\a\f\t\n\r\v`, `\x7F`, `\x{10FFFF}`, octal `\0…`,
 * punctuation, `\Q…\E`), `.`, classes with ranges, negation, `\d\s\w` (ASCII), `[:alpha:]` and the other
 * ASCII classes, `\pN`, `\p{Greek}` and their negations; groups `( )`, `(?: )`, `(?P<n> )`,
 * `(?<n> )`; flags `(?imsU)`, `(?i-s: )`; repetitions `* + ? {n} {n,} {n,m}` (lazy forms too, at most
 * 1000); anchors `^ $ \A \z \b \B`. What RE2 refuses is refused (backreferences, lookaround, `\Z`,
 * `a**`, a repetition of nothing), with INVALID_REGULAR_EXPRESSION.
 */

/** Pattern length, in UTF-16 units; RE2 has no limit of its own but a program size. */
export const topicRegexLengthMax = 4096;
/** Automaton states once repetitions are expanded (RE2 refuses larger programs too). */
const statesMax = 20_000;
/** RE2's repetition count limit. */
const repeatMax = 1000;
/** Topic names whose result one pattern remembers (results are recomputed past it). */
const cachedMax = 100_000;

type CharTest = (c: number) => boolean;

interface Flags {
  readonly i: boolean;
  readonly m: boolean;
  readonly s: boolean;
}

type Node =
  | { readonly kind: 'char'; readonly test: CharTest }
  | { readonly kind: 'assert'; readonly at: Anchor }
  | { readonly kind: 'seq'; readonly items: Node[] }
  | { readonly kind: 'alt'; readonly options: Node[] }
  | { readonly kind: 'repeat'; readonly body: Node; readonly min: number; readonly max: number };

type Anchor = 'lineStart' | 'lineEnd' | 'textStart' | 'textEnd' | 'word' | 'notWord';

export class TopicRegexError extends Error {}

const fail = (why: string): never => {
  throw new TopicRegexError(why);
};

const code = (s: string): number => s.codePointAt(0) ?? 0;
const isWordChar = (c: number): boolean =>
  (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
const inRanges =
  (ranges: ReadonlyArray<readonly [number, number]>): CharTest =>
  (c) =>
    ranges.some(([lo, hi]) => c >= lo && c <= hi);

/** RE2's Perl and ASCII classes. */
const perlClasses: Record<string, CharTest> = {
  d: inRanges([[48, 57]]),
  s: inRanges([
    [9, 10],
    [12, 13],
    [32, 32],
  ]),
  w: isWordChar,
};
const asciiClasses: Record<string, CharTest> = {
  alnum: inRanges([
    [48, 57],
    [65, 90],
    [97, 122],
  ]),
  alpha: inRanges([
    [65, 90],
    [97, 122],
  ]),
  ascii: inRanges([[0, 127]]),
  blank: inRanges([
    [9, 9],
    [32, 32],
  ]),
  cntrl: inRanges([
    [0, 31],
    [127, 127],
  ]),
  digit: inRanges([[48, 57]]),
  graph: inRanges([[33, 126]]),
  lower: inRanges([[97, 122]]),
  print: inRanges([[32, 126]]),
  punct: inRanges([
    [33, 47],
    [58, 64],
    [91, 96],
    [123, 126],
  ]),
  space: inRanges([
    [9, 13],
    [32, 32],
  ]),
  upper: inRanges([[65, 90]]),
  word: isWordChar,
  xdigit: inRanges([
    [48, 57],
    [65, 70],
    [97, 102],
  ]),
};
const simpleEscapes: Record<string, number> = { a: 7, f: 12, t: 9, n: 10, r: 13, v: 11 };
const generalCategory = /^(?:[CLMNPSZ]|C[cfnos]|L[lmotu&]|M[cen]|N[dlo]|P[cdefios]|S[ckmo]|Z[lps])$/;

/** `\p{…}` through a one-character JavaScript RegExp: Unicode tables without writing them out. */
function unicodeClass(name: string): CharTest {
  if (name === 'Any') return () => true;
  if (!/^[A-Za-z_&]+$/.test(name)) fail(`invalid character class range: \\p{${name}}`);
  const property = generalCategory.test(name) ? name.replace('L&', 'LC') : `Script=${name}`;
  let re: RegExp;
  try {
    re = new RegExp(`^\\p{${property}}$`, 'u');
  } catch {
    return fail(`invalid character class range: \\p{${name}}`);
  }
  return (c) => re.test(String.fromCodePoint(c));
}

function foldCase(test: CharTest): CharTest {
  return (c) => {
    if (test(c)) return true;
    const s = String.fromCodePoint(c);
    const lower = code(s.toLowerCase());
    const upper = code(s.toUpperCase());
    return (lower !== c && test(lower)) || (upper !== c && test(upper));
  };
}

const negate =
  (test: CharTest): CharTest =>
  (c) =>
    !test(c);

class Parser {
  readonly #src: string;
  #at = 0;

  constructor(src: string) {
    this.#src = src;
  }

  parse(): Node {
    const node = this.#alternation({ i: false, m: false, s: false });
    if (this.#at < this.#src.length) fail('unexpected )');
    return node;
  }

  #peek(offset = 0): string {
    return this.#src[this.#at + offset] ?? '';
  }

  #next(): string {
    const c = this.#src.codePointAt(this.#at);
    if (c === undefined) return fail('trailing \\');
    const s = String.fromCodePoint(c);
    this.#at += s.length;
    return s;
  }

  #eat(s: string): boolean {
    if (!this.#src.startsWith(s, this.#at)) return false;
    this.#at += s.length;
    return true;
  }

  /** Alternatives up to `)` or the end; `(?flags)` changes the flags for the rest of the group. */
  #alternation(outer: Flags): Node {
    let flags = outer;
    const options: Node[] = [];
    let items: Node[] = [];
    while (this.#at < this.#src.length && this.#peek() !== ')') {
      if (this.#eat('|')) {
        options.push({ kind: 'seq', items });
        items = [];
        continue;
      }
      if (this.#src.startsWith('(?', this.#at)) {
        const set = this.#flagGroup(flags);
        if (set !== undefined) {
          flags = set;
          continue;
        }
      }
      const atom = this.#atom(flags);
      items.push(this.#repetition(atom));
    }
    options.push({ kind: 'seq', items });
    return options.length === 1 ? options[0]! : { kind: 'alt', options };
  }

  /** `(?flags)` alone: the new flags; otherwise undefined and nothing consumed. */
  #flagGroup(flags: Flags): Flags | undefined {
    const m = /^\(\?([imsU]*)(?:-([imsU]*))?\)/.exec(this.#src.slice(this.#at, this.#at + 16));
    if (m === null) return undefined;
    if (m[1] === '' && m[2] === undefined) fail('missing flags: (?)');
    if (m[2] === '') fail(`missing flags after -: ${m[0]}`);
    this.#at += m[0].length;
    return withFlags(flags, m[1] ?? '', m[2] ?? '');
  }

  #repetition(atom: Node): Node {
    const m = /^(?:([*+?])|\{(\d+)(,(\d*))?\})/.exec(this.#src.slice(this.#at, this.#at + 16));
    if (m === null) return atom;
    if (atom.kind === 'assert' || (atom.kind === 'seq' && atom.items.length === 0 && !this.#grouped))
      fail(`missing argument to repetition operator: ${m[0]}`);
    this.#at += m[0].length;
    this.#eat('?');
    const [min, max] =
      m[1] === '*'
        ? [0, Number.POSITIVE_INFINITY]
        : m[1] === '+'
          ? [1, Number.POSITIVE_INFINITY]
          : m[1] === '?'
            ? [0, 1]
            : [
                Number(m[2]),
                m[3] === undefined ? Number(m[2]) : m[4] === '' ? Number.POSITIVE_INFINITY : Number(m[4]),
              ];
    if (min > repeatMax || (max !== Number.POSITIVE_INFINITY && (max > repeatMax || max < min)))
      fail(`invalid repeat count: ${m[0]}`);
    if (/^(?:[*+?]|\{\d+(?:,\d*)?\})/.test(this.#src.slice(this.#at, this.#at + 16)))
      fail(`invalid nested repetition operator: ${m[0]}${this.#peek()}`);
    return { kind: 'repeat', body: atom, min, max };
  }

  #grouped = false;

  #atom(flags: Flags): Node {
    this.#grouped = false;
    const c = this.#next();
    switch (c) {
      case '(':
        return this.#group(flags);
      case '[':
        return { kind: 'char', test: this.#class(flags) };
      case '.':
        return { kind: 'char', test: flags.s ? () => true : (x) => x !== 10 };
      case '^':
        return { kind: 'assert', at: flags.m ? 'lineStart' : 'textStart' };
      case '$':
        return { kind: 'assert', at: flags.m ? 'lineEnd' : 'textEnd' };
      case '*':
      case '+':
      case '?':
        return fail(`missing argument to repetition operator: ${c}`);
      case '\\':
        return this.#escape(flags);
      default: {
        const x = code(c);
        return this.#char((y) => y === x, flags);
      }
    }
  }

  #char(test: CharTest, flags: Flags): Node {
    return { kind: 'char', test: flags.i ? foldCase(test) : test };
  }

  #group(flags: Flags): Node {
    let inner = flags;
    if (this.#eat('?')) {
      const m = /^(?:P?<([A-Za-z0-9_]+)>|([imsU]*)(?:-([imsU]*))?:)/.exec(
        this.#src.slice(this.#at, this.#at + 64),
      );
      if (m === null) return fail(`invalid or unsupported Perl syntax: (?${this.#peek()}`);
      if (m[3] === '') fail('missing flags after -');
      this.#at += m[0].length;
      if (m[1] === undefined) inner = withFlags(flags, m[2] ?? '', m[3] ?? '');
    }
    const body = this.#alternation(inner);
    if (!this.#eat(')')) fail('missing closing )');
    this.#grouped = true;
    return body.kind === 'seq' || body.kind === 'alt' ? body : { kind: 'seq', items: [body] };
  }

  #escape(flags: Flags): Node {
    const c = this.#next();
    if (c === 'A') return { kind: 'assert', at: 'textStart' };
    if (c === 'z') return { kind: 'assert', at: 'textEnd' };
    if (c === 'b') return { kind: 'assert', at: 'word' };
    if (c === 'B') return { kind: 'assert', at: 'notWord' };
    if (c === 'Q') {
      const end = this.#src.indexOf('\\E', this.#at);
      const text = this.#src.slice(this.#at, end < 0 ? undefined : end);
      this.#at = end < 0 ? this.#src.length : end + 2;
      const items = Array.from(text, (ch): Node => this.#char((y) => y === code(ch), flags));
      return { kind: 'seq', items };
    }
    return this.#char(this.#escapedChar(c), flags);
  }

  /** What an escape stands for, in or out of a class (after the `\`). */
  #escapedChar(c: string): CharTest {
    const lower = c.toLowerCase();
    if (perlClasses[lower] !== undefined && (c === lower || c === c.toUpperCase())) {
      const test = perlClasses[lower]!;
      return c === lower ? test : negate(test);
    }
    if (c === 'p' || c === 'P') {
      let name = this.#next();
      if (name === '{') {
        const end = this.#src.indexOf('}', this.#at);
        if (end < 0) fail('invalid character class range: missing }');
        name = this.#src.slice(this.#at, end);
        this.#at = end + 1;
      }
      const negated = (c === 'P') !== name.startsWith('^');
      const test = unicodeClass(name.replace(/^\^/, ''));
      return negated ? negate(test) : test;
    }
    const x = this.#escapedCode(c);
    return (y) => y === x;
  }

  #escapedCode(c: string): number {
    const simple = simpleEscapes[c];
    if (simple !== undefined) return simple;
    if (c === 'x') {
      const m = /^(?:\{([0-9A-Fa-f]{1,6})\}|([0-9A-Fa-f]{2}))/.exec(this.#src.slice(this.#at, this.#at + 8));
      if (m === null) return fail('invalid escape sequence: \\x');
      this.#at += m[0].length;
      const value = Number.parseInt(m[1] ?? m[2] ?? '', 16);
      if (value > 0x10ffff) fail('invalid escape sequence: \\x');
      return value;
    }
    if (c === '0') {
      const m = /^[0-7]{0,2}/.exec(this.#src.slice(this.#at, this.#at + 2));
      this.#at += m?.[0].length ?? 0;
      return Number.parseInt(`0${m?.[0] ?? ''}`, 8);
    }
    // RE2 escapes any ASCII punctuation; letters and digits are its own escapes or refused.
    if (/^[!-/:-@[-`{-~]$/.test(c)) return code(c);
    return fail(`invalid escape sequence: \\${c}`);
  }

  /** After `[`: the class as one test (case folded before a negation, as RE2 does). */
  #class(flags: Flags): CharTest {
    const negated = this.#eat('^');
    // A leading ] is a literal: `[]a]`.
    const tests: CharTest[] = this.#eat(']') ? [(y) => y === 93] : [];
    while (!this.#eat(']')) {
      if (this.#at >= this.#src.length) fail('missing closing ]');
      const posix = /^\[:(\^?)([a-z]+):\]/.exec(this.#src.slice(this.#at, this.#at + 12));
      if (posix !== null) {
        const test = asciiClasses[posix[2] ?? ''] ?? fail(`invalid character class range: ${posix[0]}`);
        this.#at += posix[0].length;
        tests.push(posix[1] === '^' ? negate(test) : test);
        continue;
      }
      const lo = this.#classChar();
      if (typeof lo === 'function') tests.push(lo);
      else if (this.#peek() === '-' && this.#peek(1) !== ']' && this.#peek(1) !== '') {
        this.#at++;
        const hi = this.#classChar();
        if (typeof hi === 'function' || hi < lo) return fail('invalid character class range');
        tests.push((y) => y >= lo && y <= hi);
      } else tests.push((y) => y === lo);
    }
    const any: CharTest = (y) => tests.some((t) => t(y));
    const test = flags.i ? foldCase(any) : any;
    return negated ? negate(test) : test;
  }

  /** One member of a class: a code point, or a test for an escaped class such as `\d`. */
  #classChar(): number | CharTest {
    const c = this.#next();
    if (c !== '\\') return code(c);
    const e = this.#next();
    if (/^[dswDSWpP]$/.test(e)) return this.#escapedChar(e);
    return this.#escapedCode(e);
  }
}

function withFlags(flags: Flags, on: string, off: string): Flags {
  const has = (f: string, fallback: boolean): boolean =>
    on.includes(f) ? true : off.includes(f) ? false : fallback;
  return { i: has('i', flags.i), m: has('m', flags.m), s: has('s', flags.s) };
}

/** The automaton: a state tests a character, splits, asserts a position, or accepts. */
type State =
  | { op: 'char'; test: CharTest; out: number }
  | { op: 'split'; out: number; alt: number }
  | { op: 'assert'; at: Anchor; out: number }
  | { op: 'match' };

class Program {
  readonly states: State[] = [{ op: 'match' }];

  #add(state: State): number {
    if (this.states.length >= statesMax) fail('expression too large');
    this.states.push(state);
    return this.states.length - 1;
  }

  /** The states of `node` leading to `next`; returns the entry state. */
  compile(node: Node, next: number): number {
    switch (node.kind) {
      case 'char':
        return this.#add({ op: 'char', test: node.test, out: next });
      case 'assert':
        return this.#add({ op: 'assert', at: node.at, out: next });
      case 'seq':
        return node.items.reduceRight((to, item) => this.compile(item, to), next);
      case 'alt':
        return node.options
          .map((o) => this.compile(o, next))
          .reduceRight((rest, entry) => this.#add({ op: 'split', out: entry, alt: rest }));
      case 'repeat':
        return this.#repeat(node.body, node.min, node.max, next);
    }
  }

  #repeat(body: Node, min: number, max: number, next: number): number {
    let entry = next;
    if (max === Number.POSITIVE_INFINITY) {
      const loop = this.#add({ op: 'split', out: -1, alt: next });
      const state = this.states[loop] as { out: number };
      state.out = this.compile(body, loop);
      entry = loop;
    } else
      for (let k = min; k < max; k++)
        entry = this.#add({ op: 'split', out: this.compile(body, entry), alt: next });
    for (let k = 0; k < min; k++) entry = this.compile(body, entry);
    return entry;
  }
}

/** A compiled SubscribedTopicRegex. */
export class TopicRegex {
  readonly source: string;
  readonly #states: State[];
  readonly #entry: number;
  readonly #seen = new Map<string, boolean>();

  /** Throws TopicRegexError, with RE2's reason, for a pattern RE2 refuses or one past the bounds. */
  constructor(source: string) {
    if (source.length > topicRegexLengthMax)
      fail(`the pattern is longer than ${topicRegexLengthMax} characters`);
    this.source = source;
    const program = new Program();
    this.#entry = program.compile(new Parser(source).parse(), 0);
    this.#states = program.states;
  }

  /** Whether the whole topic name matches. */
  matches(topic: string): boolean {
    const known = this.#seen.get(topic);
    if (known !== undefined) return known;
    const result = this.#run(Array.from(topic, code));
    if (this.#seen.size >= cachedMax) this.#seen.clear();
    this.#seen.set(topic, result);
    return result;
  }

  #run(text: number[]): boolean {
    let current: number[] = [];
    const mark = new Int32Array(this.#states.length).fill(-1);
    this.#close(this.#entry, text, 0, current, mark);
    for (let i = 0; i < text.length && current.length > 0; i++) {
      const c = text[i]!;
      const next: number[] = [];
      for (const s of current) {
        const state = this.#states[s]!;
        if (state.op === 'char' && state.test(c)) this.#close(state.out, text, i + 1, next, mark);
      }
      current = next;
    }
    return current.includes(0);
  }

  /** Adds `from` and every state reachable from it without reading a character at `pos`. */
  #close(from: number, text: number[], pos: number, into: number[], mark: Int32Array): void {
    const stack = [from];
    while (stack.length > 0) {
      const s = stack.pop()!;
      if (mark[s] === pos) continue;
      mark[s] = pos;
      const state = this.#states[s]!;
      if (state.op === 'split') stack.push(state.alt, state.out);
      else if (state.op === 'assert') {
        if (holds(state.at, text, pos)) stack.push(state.out);
      } else into.push(s);
    }
  }
}

function holds(at: Anchor, text: number[], pos: number): boolean {
  switch (at) {
    case 'textStart':
      return pos === 0;
    case 'textEnd':
      return pos === text.length;
    case 'lineStart':
      return pos === 0 || text[pos - 1] === 10;
    case 'lineEnd':
      return pos === text.length || text[pos] === 10;
    case 'word':
    case 'notWord': {
      const before = pos > 0 && isWordChar(text[pos - 1]!);
      const after = pos < text.length && isWordChar(text[pos]!);
      return (before !== after) === (at === 'word');
    }
  }
}
