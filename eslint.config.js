import js from '@eslint/js';
import boundaries from 'eslint-plugin-boundaries';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

/**
 * The one-way rule of docs/architecture.md: features (what the product does) stand on the
 * infrastructure, which never imports a feature; infrastructure layers import only those
 * below them. The entry files at the top of src/ wire everything.
 */
const INFRASTRUCTURE = [
  // Lowest first: each may import the ones listed before it.
  ['base', 'src/(errors|config|types|generated)'],
  ['observability', 'src/observability'],
  ['lifecycle', 'src/lifecycle'],
  ['storage', 'src/(data|redis|scheduler)'],
  ['edge', 'src/(realtime|http)'],
];
const FEATURES = 'src/(auth|cluster|health|messages)';
/** @param {number} index */
const below = (index) => INFRASTRUCTURE.slice(0, index + 1).map(([type]) => type);

export default defineConfig(
  { ignores: ['dist/', 'src/generated/', '**/node_modules/'] },
  js.configs.recommended,
  tseslint.configs.strictTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: { allowDefaultProject: ['*.js', '*.cjs', 'tools/prisma-v6/prisma.config.ts'] }, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true }],
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      // Express 5 forwards a rejected handler promise to the error middleware.
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      // node:test awaits its own describe/it promises.
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite', 'before', 'after'] }] },
      ],
    },
  },
  {
    // It reads the built dist/src/config/env.js, which exists after `npm run build` only: the
    // disable directive there is needed before a build and unused after one.
    files: ['ecosystem.config.cjs'],
    linterOptions: { reportUnusedDisableDirectives: 'off' },
  },
  {
    files: ['src/**/*.ts'],
    plugins: { boundaries },
    settings: {
      'import/resolver': { typescript: { project: 'tsconfig.json' } },
      'boundaries/elements': [
        ...INFRASTRUCTURE.map(([type, pattern]) => ({ type, pattern })),
        { type: 'feature', pattern: FEATURES },
        { type: 'entry', pattern: 'src' },
      ],
    },
    rules: {
      'boundaries/dependencies': [
        'error',
        {
          default: 'disallow',
          policies: [
            ...INFRASTRUCTURE.map(([type], index) => ({
              from: { element: { type } },
              allow: { to: { element: { types: { anyOf: below(index) } } } },
            })),
            { from: { element: { type: 'feature' } }, allow: { to: { element: { types: { anyOf: [...below(INFRASTRUCTURE.length - 1), 'feature'] } } } } },
            { from: { element: { type: 'entry' } }, allow: { to: { element: { types: { anyOf: [...below(INFRASTRUCTURE.length - 1), 'feature', 'entry'] } } } } },
          ],
        },
      ],
    },
  },
  {
    // The page's browser code: tsconfig.public.json type-checks it against the DOM, which
    // also catches undefined names.
    files: ['public/**/*.js'],
    languageOptions: { parserOptions: { projectService: false, project: './tsconfig.public.json' } },
    rules: { 'no-undef': 'off' },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly', module: 'writable', __dirname: 'readonly', process: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
