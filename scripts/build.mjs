// Bundles the CLI into one ESM file so `multinode` starts without resolving hundreds of modules.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
await build({
  entryPoints: { multinode: 'src/cli/main.ts' },
  outdir: 'dist',
  entryNames: '[name]',
  chunkNames: 'chunks/[name]-[hash]',
  outExtension: { '.js': '.mjs' },
  splitting: true,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  sourcemap: 'linked',
  legalComments: 'none',
  define: { MULTINODE_VERSION: JSON.stringify(pkg.version) },
  banner: {
    js: "import { createRequire as __mnCreateRequire } from 'node:module'; const require = __mnCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
