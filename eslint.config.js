// Lint: typescript-eslint's recommended rules plus the layer rules of DESIGN.md (dependencies point inward).
import tseslint from 'typescript-eslint';

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
);
