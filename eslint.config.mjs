// Lint gate for src/, test/ and bench/ (npm run lint). Formatting is prettier's job, so the
// stylistic rules are off (eslint-config-prettier); what stays catches bugs and dead code.
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  // Test fixtures are inputs shaped for their tests (as for prettier).
  { ignores: ['dist/', 'build/', 'prebuilds/', 'node_modules/', 'bench/results/', 'docs/', 'test/fixtures/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      // `_name` marks an argument kept for its position in a callback's signature.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Tests match terminal output: ANSI escape sequences in their regular expressions are meant.
    files: ['test/**/*.ts'],
    rules: { 'no-control-regex': 'off' },
  },
  {
    // Plain CommonJS scripts (bench, the demo workload, test fixtures run by node).
    files: ['**/*.js', '**/*.cjs'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  prettier,
);
