// Builds the CLI into dist/ (or the directory given as the first argument, for tests):
//  - multinode.mjs (+ chunks/): the whole CLI, one ESM entry whose commands load on demand.
//  - fast/validate.cjs: `validate` and `--version` in ONE CommonJS file (no chunks, so no ESM loader
//    resolving a dozen modules), run by fast/run.cjs with a V8 code cache (validate.cjs.cache, primed here
//    by one run). `./multinode` sends those commands there; see src/cli/fast.ts and src/cli/code-cache.ts.
//  - ui/: the dashboard page (index.html, app.js, app.css) for the browser, served by `multinode dashboard`
//    (src/app/dashboard/server.ts finds it beside the program); no CDN, works offline.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const out = resolve(process.argv[2] ?? join(root, 'dist'));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const common = {
  absWorkingDir: root,
  bundle: true,
  platform: 'node',
  target: 'node20',
  legalComments: 'none',
  define: { MULTINODE_VERSION: JSON.stringify(pkg.version) },
  logLevel: 'warning',
};
// commander requires node:child_process at load (for executable subcommands, which multinode has none
// of), and that module loads net, stream and more: ~10-15 ms of a `validate` run. In the fast bundle it
// becomes an object that requires the real module on first use.
const lazyChildProcess = {
  name: 'lazy-child-process',
  setup(b) {
    b.onResolve({ filter: /^(node:)?child_process$/ }, (a) =>
      a.namespace === 'lazy' ? undefined : { path: 'child_process', namespace: 'lazy' },
    );
    b.onLoad({ filter: /.*/, namespace: 'lazy' }, () => ({
      contents:
        "let real; const load = () => (real ??= require('node:child_process'));\n" +
        'module.exports = new Proxy({}, { get: (_, k) => load()[k], has: (_, k) => k in load() });\n',
      loader: 'js',
    }));
  },
};
await Promise.all([
  build({
    ...common,
    entryPoints: { multinode: 'src/cli/main.ts' },
    outdir: out,
    entryNames: '[name]',
    chunkNames: 'chunks/[name]-[hash]',
    outExtension: { '.js': '.mjs' },
    splitting: true,
    format: 'esm',
    sourcemap: 'linked',
    banner: {
      js: "import { createRequire as __mnCreateRequire } from 'node:module'; const require = __mnCreateRequire(import.meta.url);",
    },
  }),
  build({
    ...common,
    entryPoints: { validate: 'src/cli/fast.ts', run: 'src/cli/code-cache.ts' },
    outdir: join(out, 'fast'),
    outExtension: { '.js': '.cjs' },
    format: 'cjs',
    // Less source to read and hash per run (~4 ms); names are kept so an internal error's stack still reads.
    minifyWhitespace: true,
    minifySyntax: true,
    plugins: [lazyChildProcess],
  }),
  build({
    absWorkingDir: root,
    entryPoints: { app: 'src/ui/main.ts' },
    outdir: join(out, 'ui'),
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    minify: true,
    legalComments: 'none',
    logLevel: 'warning',
  }),
]);
mkdirSync(join(out, 'ui'), { recursive: true });
for (const f of ['index.html', 'app.css']) copyFileSync(join(root, 'src/ui', f), join(out, 'ui', f));

// code-cache.ts runs the bundle with vm.Script, which has no loader for a dynamic import(): the fast
// bundle must be self-contained (esbuild turns internal dynamic imports into plain calls).
const fast = readFileSync(join(out, 'fast/validate.cjs'), 'utf8');
if (/\bimport\(/.test(fast)) {
  throw new Error('build: dist/fast/validate.cjs contains a dynamic import(), which vm.Script cannot run');
}

// Prime the code cache with a representative run (a stale cache is rejected by V8 and rewritten; the run's
// exit code does not matter: the cache is written on exit either way).
const cache = join(out, 'fast/validate.cjs.cache');
rmSync(cache, { force: true });
spawnSync(
  process.execPath,
  [join(out, 'fast/run.cjs'), 'validate', join(root, 'examples/seed-000-vllm.yaml')],
  { stdio: 'ignore' },
);
if (!existsSync(cache)) {
  process.stderr.write('build: could not prime the code cache; it is written on first use\n');
}
