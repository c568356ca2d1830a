/**
 * The import graph of src/ and its circles (test/structure/import-circles.test.ts). A file imports
 * another when one of its statements names it: `import … from`, `export … from`, `import '…'` and
 * `import('…')`. Type-only imports count: they tie two files together for a reader as much as a value
 * import does, and a type that must live below both of its users has a file below both.
 *
 * A circle is a strongly connected component of the graph (Tarjan's algorithm) of two or more files,
 * or one file that imports itself.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, posix, relative, sep } from 'node:path';

/** One file's imports of other files of the tree: target → the names it takes (`*` for none named). */
export type ImportGraph = ReadonlyMap<string, ReadonlyMap<string, readonly string[]>>;

/** A circle: its files, sorted, and every import between two of them with the names it takes. */
export interface Circle {
  readonly files: readonly string[];
  readonly ties: readonly string[];
}

/** Files read at most: src/ holds about 380 today; a walk past this is a mistake (a link loop). */
const filesMax = 20_000;

/** Static imports and re-exports (with their clause), bare imports, and dynamic `import('…')`. */
const importPattern =
  /^[ \t]*(?:import|export)\s+(?:type\s+)?([^;'"]*?)\s*from\s*['"]([^'"]+)['"]|^[ \t]*import\s*['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/gm;

/** The `.ts` files under `dir` (declarations left out), as paths relative to `root` with `/`. */
export function sourceFiles(root: string, dir: string): string[] {
  const out: string[] = [];
  const walk = (at: string): void => {
    for (const name of readdirSync(at)) {
      const path = join(at, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith('.ts') && !name.endsWith('.d.ts'))
        out.push(relative(root, path).split(sep).join('/'));
      if (out.length > filesMax) throw new Error(`more than ${filesMax} files under ${dir}`);
    }
  };
  walk(join(root, dir));
  return out.sort();
}

/** `{ a, type b, c as d }` → `a, b, c`; a namespace or bare import → `*`. */
function namesOf(clause: string | undefined): string[] {
  const braces = /\{([^}]*)\}/.exec(clause ?? '');
  if (braces === null) return ['*'];
  return braces[1]!
    .split(',')
    .map(
      (part) =>
        part
          .trim()
          .replace(/^type\s+/, '')
          .split(/\s+as\s+/)[0]!,
    )
    .filter((name) => name !== '');
}

/**
 * The file a relative specifier names (`./x.js` → `x.ts`, a folder → its `index.ts`); undefined for a
 * package. A relative specifier naming no file of the tree throws: the graph would be wrong silently.
 */
function resolve(from: string, specifier: string, files: ReadonlySet<string>): string | undefined {
  if (!specifier.startsWith('.')) return undefined;
  const base = posix.normalize(posix.join(dirname(from), specifier)).replace(/\.js$/, '');
  for (const candidate of [`${base}.ts`, `${base}/index.ts`]) if (files.has(candidate)) return candidate;
  throw new Error(`${from}: '${specifier}' names no file of the tree`);
}

/** The graph of `sources` (path → text); paths relative to one root, with `/`. */
export function importGraph(sources: ReadonlyMap<string, string>): ImportGraph {
  const files = new Set(sources.keys());
  const graph = new Map<string, Map<string, string[]>>();
  for (const [file, text] of sources) {
    const edges = new Map<string, string[]>();
    for (const m of text.matchAll(importPattern)) {
      const target = resolve(file, (m[2] ?? m[3] ?? m[4])!, files);
      if (target === undefined) continue;
      edges.set(target, [...(edges.get(target) ?? []), ...namesOf(m[1])]);
    }
    graph.set(file, edges);
  }
  return graph;
}

/** Reads `dir` under `root` and builds its graph. */
export function readImportGraph(root: string, dir: string): ImportGraph {
  const sources = new Map<string, string>();
  for (const file of sourceFiles(root, dir)) sources.set(file, readFileSync(join(root, file), 'utf8'));
  return importGraph(sources);
}

/** Every circle of the graph, each with the imports that tie it. */
export function findCircles(graph: ImportGraph): Circle[] {
  return stronglyConnected(graph)
    .filter((files) => files.length > 1 || graph.get(files[0]!)?.has(files[0]!) === true)
    .map((files) => ({ files, ties: tiesOf(graph, files) }));
}

function tiesOf(graph: ImportGraph, files: readonly string[]): string[] {
  const inside = new Set(files);
  const ties: string[] = [];
  for (const from of files) {
    for (const [to, names] of graph.get(from) ?? []) {
      if (inside.has(to)) ties.push(`${from} → ${to}: ${[...new Set(names)].join(', ')}`);
    }
  }
  return ties;
}

const noImports: ReadonlyMap<string, readonly string[]> = new Map();

/** Tarjan's strongly connected components, iterative so that a deep chain cannot overflow the stack. */
function stronglyConnected(graph: ImportGraph): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  for (const start of graph.keys()) {
    if (index.has(start)) continue;
    const work: Array<{ file: string; next: Iterator<string> }> = [];
    const enter = (file: string): void => {
      index.set(file, index.size);
      low.set(file, index.get(file)!);
      stack.push(file);
      onStack.add(file);
      work.push({ file, next: (graph.get(file) ?? noImports).keys() });
    };
    enter(start);
    while (work.length > 0) {
      const top = work[work.length - 1]!;
      const step = top.next.next();
      if (!step.done) {
        const to = step.value;
        if (!index.has(to)) enter(to);
        else if (onStack.has(to)) low.set(top.file, Math.min(low.get(top.file)!, index.get(to)!));
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent !== undefined) low.set(parent.file, Math.min(low.get(parent.file)!, low.get(top.file)!));
      if (low.get(top.file) === index.get(top.file)) components.push(popComponent(stack, onStack, top.file));
    }
  }
  return components;
}

function popComponent(stack: string[], onStack: Set<string>, root: string): string[] {
  const files: string[] = [];
  for (;;) {
    const file = stack.pop()!;
    onStack.delete(file);
    files.push(file);
    if (file === root) return files.sort();
  }
}
