// Lint: type-aware rules plus the one-way layer rule, a fan of targets:
//   api ← lib ← spec ← plan ← targets/{local,kubernetes,slurm} ← app ← cli
// and no target imports another. The dashboard's browser code (src/ui) sees only src/app/dashboard/wire.ts.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const chain = ['api', 'lib', 'spec', 'plan', 'targets', 'app', 'cli'];
const targets = ['local', 'kubernetes', 'slurm'];
const pureLayers = ['api', 'lib', 'spec', 'plan'];
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
const picture = chain.join(' ← ');

/** Patterns for "imports from src/<dir>" as seen from anywhere under src/. */
const dirPatterns = (dir, message) => ({ group: [`**/${dir}/**`, `**/${dir}`], message });

/** Each layer may import only from layers to its left; the pure core may not touch the machine. */
const layerRules = chain.flatMap((layer, i) => {
  const forbidden = chain.slice(i + 1);
  const pure = pureLayers.includes(layer);
  const base = (files, extra) => ({
    files,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            ...forbidden.map((f) =>
              dirPatterns(
                f,
                `src/${layer} must not import from src/${f}: imports point left only (${picture}).`,
              ),
            ),
            ...extra,
          ],
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
  });
  if (layer !== 'targets') return [base([`src/${layer}/**/*.ts`], [])];
  // The seams every target shares (src/targets/*.ts) may not import any one target.
  const shared = base(
    ['src/targets/*.ts'],
    targets.flatMap((o) => [
      dirPatterns(`targets/${o}`, 'shared target code must not import a target'),
      { group: [`./${o}/**`, `./${o}`], message: 'shared target code must not import a target' },
    ]),
  );
  // Targets form a fan: each may use the layers to its left, none may import a sibling target.
  return [shared].concat(
    targets.map((t) =>
      base(
        [`src/targets/${t}/**/*.ts`],
        targets
          .filter((o) => o !== t)
          .map((o) =>
            dirPatterns(
              `targets/${o}`,
              `src/targets/${t} must not import another target (src/targets/${o}).`,
            ),
          )
          .concat(
            targets
              .filter((o) => o !== t)
              .map((o) => ({
                group: [`../${o}/**`, `../${o}`],
                message: `targets do not import each other`,
              })),
          ),
      ),
    ),
  );
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
  // The dashboard page (browser code, own tsconfig with the DOM lib): no Node modules, and from the project
  // only the wire types the server sends (src/app/dashboard/wire.ts).
  {
    files: ['src/ui/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['node:*'], message: 'src/ui runs in the browser: no Node modules.' },
            {
              regex: '^\\.\\./(?!app/dashboard/wire\\.js$)',
              message: 'src/ui imports only the wire types (src/app/dashboard/wire.ts) from the project.',
            },
          ],
        },
      ],
    },
  },
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
