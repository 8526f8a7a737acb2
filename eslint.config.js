// Lint: type-aware rules plus the one-way layer rule (api ← spec ← plan ← render ← runtime ← cli).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const layers = ['api', 'spec', 'plan', 'render', 'runtime', 'cli'];
const effectful = [
  'node:fs',
  'node:fs/promises',
  'node:child_process',
  'node:net',
  'node:http',
  'node:os',
  'node:process',
  'node:dgram',
];

/** Each layer may import only from layers to its left; the pure core may not touch the machine. */
const layerRules = layers.map((layer, i) => {
  const forbidden = layers.slice(i + 1);
  const pure = ['api', 'spec', 'plan', 'render'].includes(layer);
  return {
    files: [`src/${layer}/**/*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: forbidden.map((f) => ({
            group: [`**/${f}/**`, `**/${f}`],
            message: `src/${layer} must not import from src/${f}: imports point left only (${layers.join(' ← ')}).`,
          })),
          paths: pure
            ? effectful.map((name) => ({
                name,
                message: `src/${layer} is pure: no I/O, clock or environment.`,
              }))
            : [],
        },
      ],
      ...(pure
        ? {
            'no-restricted-globals': [
              'error',
              { name: 'process', message: 'pure layers take what varies as arguments' },
            ],
          }
        : {}),
      ...(layer === 'cli' ? {} : { 'no-console': 'error' }),
    },
  };
});

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'test/fixtures/**', 'test/golden/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      parserOptions: { projectService: false, project: null },
      globals: {
        process: 'readonly',
        console: 'readonly',
        URL: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
      },
    },
  },
  ...layerRules,
  {
    files: ['**/*.test.ts', 'test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      'no-restricted-imports': 'off',
      'no-restricted-globals': 'off',
      'no-console': 'off',
      // node:test's test()/describe() return promises the runner tracks itself.
      '@typescript-eslint/no-floating-promises': 'off',
    },
  },
);
