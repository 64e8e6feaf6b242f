// Lint: typescript-eslint's recommended rules plus the layer rules of DESIGN.md (dependencies point inward).
import tseslint from 'typescript-eslint';

/** Folders each layer must not import from, relative to src/. */
const forbidden = {
  domain: ['api', 'engine', 'auth', 'store', 'server', 'client', 'cli', 'config', 'bin'],
  api: ['engine', 'auth', 'store', 'server', 'client', 'cli', 'config', 'bin'],
  engine: ['api', 'auth', 'store', 'server', 'client', 'cli', 'bin'],
  auth: ['store', 'server', 'client', 'cli', 'bin'],
  store: ['api', 'auth', 'server', 'client', 'cli', 'bin'],
  server: ['store', 'client', 'cli', 'bin'],
  // The client may use the pure domain rules (task sequence format, conditions, variables); never server internals.
  client: ['engine', 'auth', 'store', 'server', 'cli', 'config', 'bin'],
  cli: ['store', 'server', 'bin'],
  config: ['api', 'engine', 'auth', 'store', 'server', 'client', 'cli', 'bin'],
  // The console's front end runs in the browser: only the wire contract.
  web: ['domain', 'engine', 'auth', 'store', 'server', 'client', 'cli', 'config', 'bin'],
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
  { ignores: ['dist/**', 'node_modules/**'] },
  ...tseslint.configs.recommended,
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
