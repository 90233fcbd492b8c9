// Lint: typescript-eslint's type-checked rules, no floating promises, and the layering rules
// of DESIGN.md §5: machines/ import nothing of ours (pure statecharts); actors/ and
// persistence/ import nothing from src/; core/ (errors, clock, durations) is the leaf all may use.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'dist-examples/', 'node_modules/', 'examples/out/', '.statecrew/', 'test-artifacts/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      'no-empty': ['error', { allowEmptyCatch: false }],
    },
  },
  {
    // vitest's asymmetric matchers (expect.any, expect.stringMatching) are typed `any`.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
    },
  },
  {
    files: ['machines/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/persistence/**', '**/actors/**', '**/src/**', '**/core/**', 'node:*'],
              message: 'machines/ are pure statecharts: no I/O and no imports of ours',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['actors/**/*.ts', 'persistence/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/src/**'], message: 'actors/ and persistence/ import nothing from src/: shared code lives in core/' }] },
      ],
    },
  },
  {
    files: ['core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/src/**', '**/actors/**', '**/persistence/**', '**/machines/**'], message: 'core/ is the leaf layer: it imports nothing of ours' }] },
      ],
    },
  },
  {
    files: ['**/*.mjs', '**/*.js', 'bin/**'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { parserOptions: { projectService: false, project: false }, globals: { process: 'readonly', console: 'readonly', setTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', clearTimeout: 'readonly', setImmediate: 'readonly', performance: 'readonly', Buffer: 'readonly', URL: 'readonly' } },
  },
  {
    // The inspector page: a plain browser module, served as it is.
    files: ['assets/**/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      sourceType: 'module',
      parserOptions: { projectService: false, project: false },
      globals: { window: 'readonly', document: 'readonly', location: 'readonly', history: 'readonly', fetch: 'readonly', EventSource: 'readonly', URLSearchParams: 'readonly', setInterval: 'readonly', console: 'readonly' },
    },
  },
);
