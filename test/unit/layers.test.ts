import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { expect, it } from 'vitest';

// The pipeline reads from the tree: each folder of src/ is one stage or one concern, and imports
// only run down this list (a module may import its own layer and any layer below it).
const LAYERS: readonly (readonly string[])[] = [
  ['cli.ts', 'main.ts'],
  ['commands'],
  ['target'],
  ['alerts', 'hooks', 'http', 'verify', 'metrics.ts', 'control', 'state'],
  ['status'],
  ['schedule'],
  ['plan'],
  ['rsync'],
  ['watch'],
  ['log.ts'],
  ['config'],
  ['filter.ts'],
  ['errors.ts', 'assert.ts', 'node-version.ts', 'version.ts', 'names.ts', 'prom.ts'],
];

const SRC = resolve('src');
const IMPORT = /(?:\bfrom\s+|\bimport\s*\(\s*|\bimport\s+)['"](\.{1,2}\/[^'"]+)['"]/g;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? sources(path) : entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** The imports of each module of src/, as absolute paths. */
function importGraph(): Map<string, string[]> {
  return new Map(
    sources(SRC).map((file) => {
      const text = readFileSync(file, 'utf8');
      return [file, [...text.matchAll(IMPORT)].map((m) => resolve(dirname(file), m[1] ?? ''))];
    }),
  );
}

function layerOf(file: string): number {
  const top = relative(SRC, file).split('/')[0] ?? '';
  return LAYERS.findIndex((layer) => layer.includes(top));
}

it('places every module of src/ in a layer', () => {
  const unplaced = [...importGraph().keys()].filter((file) => layerOf(file) === -1);
  expect(unplaced.map((file) => relative(SRC, file))).toEqual([]);
});

it('has no import that runs back up the layers', () => {
  const upward = [...importGraph()].flatMap(([file, imports]) =>
    imports
      .filter((target) => layerOf(target) < layerOf(file))
      .map((target) => `${relative(SRC, file)} → ${relative(SRC, target)}`),
  );
  expect(upward).toEqual([]);
});

it('has no import cycle', () => {
  const graph = importGraph();
  const done = new Set<string>();
  const cycles: string[] = [];
  const visit = (file: string, path: readonly string[]): void => {
    if (path.includes(file)) {
      cycles.push([...path.slice(path.indexOf(file)), file].map((f) => relative(SRC, f)).join(' → '));
      return;
    }
    if (done.has(file)) return;
    for (const target of graph.get(file) ?? []) visit(target, [...path, file]);
    done.add(file);
  };
  for (const file of graph.keys()) visit(file, []);
  expect(cycles).toEqual([]);
});
