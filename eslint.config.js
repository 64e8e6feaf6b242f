// Lint: typescript-eslint's recommended rules plus the layer rules of DESIGN.md (dependencies point inward).
import { readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import tseslint from 'typescript-eslint';

/** The relative imports (type-only ones included) of a TypeScript file, resolved to .ts paths; cached per lint run. */
const importsOf = new Map();
function relativeImports(file) {
  if (!importsOf.has(file)) {
    let text = '';
    try { text = readFileSync(file, 'utf8'); } catch { /* not a file: no imports */ }
    const deps = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+'(\.[^']+)'/g)].map((m) => resolve(dirname(file), m[1].replace(/\.js$/, '.ts')));
    importsOf.set(file, deps);
  }
  return importsOf.get(file);
}

/** The import path from `from` back to `to`, or null: a depth-first search over relative imports. */
function pathBack(from, to, seen = new Set()) {
  if (from === to) return [to];
  if (seen.has(from)) return null;
  seen.add(from);
  for (const dep of relativeImports(from)) {
    const rest = pathBack(dep, to, seen);
    if (rest) return [from, ...rest];
  }
  return null;
}

/** A small local rule in the spirit of eslint-plugin-import's no-cycle (without the dependency): a module must not import itself back through its imports. */
const noImportCycle = {
  meta: { type: 'problem', schema: [], messages: { cycle: 'import cycle: {{cycle}}' } },
  create(context) {
    const file = resolve(context.filename);
    return {
      'ImportDeclaration, ExportNamedDeclaration, ExportAllDeclaration'(node) {
        const source = node.source?.value;
        if (typeof source !== 'string' || !source.startsWith('.')) return;
        const target = resolve(dirname(file), source.replace(/\.js$/, '.ts'));
        const back = pathBack(target, file);
        if (back) context.report({ node, messageId: 'cycle', data: { cycle: [file, ...back].map((p) => relative(process.cwd(), p)).join(' → ') } });
      },
    };
  },
};

/** Folders each layer must not import from, relative to src/. */
const forbidden = {
  domain: ['api', 'engine', 'auth', 'store', 'server', 'client', 'cli', 'config', 'bin', 'media'],
  api: ['engine', 'auth', 'store', 'server', 'client', 'cli', 'config', 'bin', 'media'],
  engine: ['api', 'auth', 'store', 'server', 'client', 'cli', 'bin', 'media'],
  auth: ['store', 'server', 'client', 'cli', 'bin', 'media'],
  store: ['api', 'auth', 'server', 'client', 'cli', 'bin', 'media'],
  server: ['store', 'client', 'cli', 'bin', 'media'],
  // The client may use the pure domain rules (task sequence format, conditions, variables); never server internals.
  client: ['engine', 'auth', 'store', 'server', 'cli', 'config', 'bin', 'media'],
  cli: ['store', 'server', 'bin'],
  config: ['api', 'engine', 'auth', 'store', 'server', 'client', 'cli', 'bin', 'media'],
  // Boot media builders: the domain rules, the wire contract and the service's settings only.
  media: ['engine', 'auth', 'store', 'server', 'client', 'cli', 'bin'],
  // The console's front end runs in the browser: only the wire contract.
  web: ['domain', 'engine', 'auth', 'store', 'server', 'client', 'cli', 'config', 'bin', 'media'],
};

const layerRules = Object.entries(forbidden).map(([layer, others]) => ({
  files: [`src/${layer}/**/*.ts`],
  ignores: [`src/${layer}/**/*.test.ts`],
  rules: {
    'no-restricted-imports': ['error', {
      patterns: others.map((o) => ({
        group: [`../${o}/*`, `../../${o}/*`, `../${o}`, `../../${o}`],
        message: `src/${layer} must not import src/${o} (see DESIGN.md, "Layout and dependency direction").`,
      })),
    }],
  },
}));

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'artifacts/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['src/**/*.ts'],
    ignores: ['src/**/*.test.ts'],
    plugins: { local: { rules: { 'no-import-cycle': noImportCycle } } },
    rules: { 'local/no-import-cycle': 'error' },
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'off',
    },
  },
  ...layerRules,
  {
    // The console shows data as text only: no HTML parsing of strings anywhere in it.
    files: ['src/web/**/*.ts'],
    rules: {
      'no-restricted-properties': ['error',
        ...['innerHTML', 'outerHTML', 'insertAdjacentHTML', 'write', 'writeln', 'createContextualFragment', 'setHTMLUnsafe'].map((property) => ({ property, message: 'The console never turns strings into HTML (see docs/console.md).' }))],
    },
  },
);
