// ESLint flat config. The import-boundary rules below encode ARCHITECTURE.md's "Rules of the house":
// a context's index.ts is its only public surface, and each context may depend only on the
// contexts listed for it (no cycles).
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/** Which contexts each context may import (through their index.ts only). */
const allowed = {
  // The role vocabulary and @Roles: a leaf, so that every context with routes declares its roles.
  access: [],
  config: [],
  database: ['config', 'metrics'],
  dicom: [],
  dimse: ['logging'],
  // Structured logs and their correlation ids (a leaf, like metrics).
  logging: [],
  metrics: [],
  storage: ['config', 'database', 'audit'],
  catalog: ['config', 'database', 'dicom'],
  audit: ['config', 'database', 'metrics'],
  ingestion: [
    'access',
    'config',
    'database',
    'dicom',
    'dimse',
    'storage',
    'catalog',
    'audit',
    'metrics',
  ],
  retrieval: [
    'access',
    'config',
    'database',
    'dicom',
    'dimse',
    'storage',
    'catalog',
    'audit',
    'metrics',
  ],
  tiering: ['access', 'config', 'database', 'storage', 'audit', 'metrics'],
  keys: ['access', 'config', 'database', 'storage', 'audit', 'tiering'],
  lifecycle: ['access', 'config', 'database', 'storage', 'catalog', 'audit', 'tiering'],
  admin: [
    'access',
    'logging',
    'metrics',
    'config',
    'database',
    'dicom',
    'dimse',
    'storage',
    'catalog',
    'audit',
    'ingestion',
    'retrieval',
    'tiering',
    'keys',
    'lifecycle',
  ],
  cli: [
    'access',
    'logging',
    'metrics',
    'config',
    'database',
    'dicom',
    'dimse',
    'storage',
    'catalog',
    'audit',
    'ingestion',
    'retrieval',
    'tiering',
    'keys',
    'lifecycle',
    'admin',
  ],
};
const contexts = Object.keys(allowed);

const boundaryBlocks = contexts.map((ctx) => ({
  files: [`src/${ctx}/**/*.ts`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: contexts
          .filter((other) => other !== ctx)
          .map((other) =>
            allowed[ctx].includes(other)
              ? {
                  regex: `(^|/)${other}/(?!index\\.js$).+`,
                  message: `Import the ${other} context only through its index.ts.`,
                }
              : {
                  regex: `(^|/)${other}/`,
                  message: `The ${ctx} context may not depend on ${other} (see eslint.config.js and ARCHITECTURE.md).`,
                },
          ),
      },
    ],
  },
}));

export default tseslint.config(
  {
    ignores: [
      '.tmp/**',
      'dist/**',
      'node_modules/**',
      'data/**',
      'coverage/**',
      'bench/results/**',
      'bench/.work/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/consistent-type-imports': [
        'error',
        { fixStyle: 'inline-type-imports', disallowTypeAnnotations: false },
      ],
      'no-console': ['error', { allow: ['warn', 'error'] }],
    },
  },
  {
    // Nest resolves constructor parameters from emitted type metadata: type-only imports would erase them.
    files: ['src/**/*.ts'],
    rules: { '@typescript-eslint/consistent-type-imports': 'off' },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts', 'src/cli/**/*.ts', '**/*.spec.ts'],
    rules: { 'no-console': 'off' },
  },
  ...boundaryBlocks,
);
