// Lint configuration: the Grafana plugin (src/) uses the configuration @grafana/create-plugin
// scaffolded in .config/ (kept as generated); pkg/ (ledger, agent, CLI), its tests and
// benchmarks use typescript-eslint's recommended rules.
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';
import pluginConfig from './.config/eslint.config.mjs';

const SRC = ['src/**/*.{ts,tsx,js,jsx}'];
const NODE = ['pkg/**/*.ts', 'test/**/*.{ts,tsx}', 'bench/**/*.ts'];

export default defineConfig([
  { ignores: ['bench/.v0.1/**', 'build/**', 'dist/**', 'node_modules/**', 'coverage/**', '.config/**', 'test-results/**', '**/*.mjs', '**/*.js'] },
  ...pluginConfig.map((config) => ({ ...config, files: config.files ?? SRC })),
  ...tseslint.configs.recommended.map((config) => ({ ...config, files: NODE })),
  {
    files: NODE,
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  {
    // Tests read JSON answers whose shape each assertion checks.
    files: ['test/**/*.{ts,tsx}'],
    rules: { '@typescript-eslint/no-explicit-any': 'off', '@typescript-eslint/no-require-imports': 'off' },
  },
]);
