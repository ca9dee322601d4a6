// Lint: typescript-eslint's recommended rules plus the layering rules of the design card:
// machines are pure, only adapters import lmdb/hnswlib-node/openai, only the server imports ws,
// only the logger imports pino, and library code never prints.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

const restrict = (patterns) => ({ 'no-restricted-imports': ['error', { patterns }] });
const adapters = (names, where) =>
  names.map((name) => ({ group: [name, `${name}/*`], message: `only ${where} may import ${name}` }));

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'inspector/web/vendor/**', '.keel/**', '.scratch/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    // CommonJS preloads (`node --require`) can only require.
    files: ['**/*.cjs'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['src/**/*.ts', 'machines/**/*.ts', 'actors/**/*.ts', 'inspector/*.ts'],
    ignores: ['src/cli/**'],
    rules: { 'no-console': 'error' },
  },
  {
    files: ['machines/**/*.ts'],
    rules: restrict([
      { group: ['node:*', 'fs', 'path', 'crypto', 'lmdb', 'hnswlib-node', 'openai', 'ws', 'pino'], message: 'machines are pure: xstate and types only' },
      { group: ['../src/*', '../src/**', '!../src/types.js', '!../src/ports.js', '../actors/*'], message: 'machines import types only' },
    ]),
  },
  {
    files: ['actors/**/*.ts'],
    rules: restrict([
      ...adapters(['lmdb', 'hnswlib-node', 'openai'], 'adapters'),
      ...adapters(['ws'], 'the server'),
      ...adapters(['pino'], 'the logger module'),
      { group: ['../src/server/*', '../src/store/*'], message: 'actors receive ports, never adapters or the server' },
    ]),
  },
  {
    files: ['src/**/*.ts'],
    ignores: ['src/store/**', 'src/memory/hnsw-*.ts', 'src/memory/index-worker.ts', 'src/llm/openai-*.ts', 'src/security/audit-log.ts', 'src/server/**', 'src/observe/logger.ts', 'src/observe/event-store.ts', 'src/memory/memory-store.ts', 'src/memory/user-context-store.ts', 'src/cli/**', 'src/runtime/**'],
    rules: restrict([
      ...adapters(['lmdb', 'hnswlib-node', 'openai'], 'adapters'),
      ...adapters(['ws'], 'the server'),
      ...adapters(['pino'], 'the logger module'),
    ]),
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts', 'examples/**/*.ts', 'inspector/web/**/*.js'],
    languageOptions: { globals: { ...globals.node, ...globals.browser } },
    rules: { '@typescript-eslint/no-non-null-assertion': 'off' },
  },
);
