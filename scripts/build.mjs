// Builds the CLI into dist/ (or the directory given as the first argument, for tests):
//  - multinode.mjs (+ chunks/): the whole CLI, one ESM entry whose commands load on demand.
//  - fast/validate.cjs: `validate` and `--version` in ONE CommonJS file (no chunks, so no ESM loader
//    resolving a dozen modules), run by fast/run.cjs with a V8 code cache (validate.cjs.cache, primed here
//    by one run). `./multinode` sends those commands there; see src/cli/fast.ts and src/cli/code-cache.ts.
//  - fast/cli.cjs: every command in ONE CommonJS file, run by fast/cli-run.cjs with its own code cache
//    (cli.cjs.cache, primed by `--help`): ~60 ms to start where multinode.mjs and its chunks take ~160 ms.
//    `./multinode` runs every other command there (src/cli/full.ts).
//  - fast/validate.blob: the same commands as a V8 startup snapshot (built from fast/snapshot.cjs after a
//    warm-up run, so modules are initialised and functions compiled), which `./multinode` prefers when it was
//    built by the node binary it runs (validate.blob.node has that binary's mtime) and NODE_OPTIONS is empty;
//    when building or checking it fails the build goes on without it. See src/cli/fast-snapshot.ts.
//  - ui/: the dashboard page (index.html, app.js, app.css) for the browser, served by `multinode dashboard`
//    (src/app/dashboard/server.ts finds it beside the program); no CDN, works offline.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
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
const fastCommon = {
  ...common,
  outdir: join(out, 'fast'),
  outExtension: { '.js': '.cjs' },
  format: 'cjs',
  // Less source to read and hash per run (~4 ms); names are kept so an internal error's stack still reads.
  minifyWhitespace: true,
  minifySyntax: true,
  plugins: [lazyChildProcess],
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
    ...fastCommon,
    entryPoints: { validate: 'src/cli/fast.ts', snapshot: 'src/cli/fast-snapshot.ts' },
  }),
  build({
    ...fastCommon,
    entryPoints: { cli: 'src/cli/full.ts' },
    // Modules that take named bindings from node:child_process at load (promisify(execFile)) need the real one.
    plugins: [],
    // The dashboard finds its page beside the program (import.meta.url in the ESM bundle).
    define: { ...fastCommon.define, 'import.meta.url': '__mnImportMetaUrl' },
    banner: { js: "var __mnImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
  }),
  ...[
    ['run', 'validate.cjs'],
    ['cli-run', 'cli.cjs'],
  ].map(([name, bundle]) =>
    build({
      ...fastCommon,
      entryPoints: { [name]: 'src/cli/code-cache.ts' },
      define: { ...fastCommon.define, MULTINODE_CODE_BUNDLE: JSON.stringify(bundle) },
    }),
  ),
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
for (const f of ['validate.cjs', 'cli.cjs']) {
  if (/\bimport\(/.test(readFileSync(join(out, 'fast', f), 'utf8')))
    throw new Error(`build: dist/fast/${f} contains a dynamic import(), which vm.Script cannot run`);
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
// The whole CLI's cache: `--help` loads every command's module (their top-level code is the bulk).
const cliCache = join(out, 'fast/cli.cjs.cache');
rmSync(cliCache, { force: true });
spawnSync(process.execPath, [join(out, 'fast/cli-run.cjs'), '--help'], { stdio: 'ignore' });
for (const c of [cache, cliCache])
  if (!existsSync(c)) process.stderr.write(`build: could not prime ${c}; it is written on first use\n`);

// The startup snapshot: node builds it from fast/snapshot.cjs, which validates the warm-up files first (the
// examples and a few invalid fixtures, so the error paths are compiled too). Kept only when it answers a
// valid spec, an invalid one and --version exactly as the code-cached bundle does.
const blob = join(out, 'fast/validate.blob');
rmSync(blob, { force: true });
rmSync(`${blob}.node`, { force: true });
const skipped = buildSnapshot();
if (skipped) process.stderr.write(`build: no startup snapshot (${skipped}); validate runs without it\n`);

/** Builds fast/validate.blob and records the node binary that built it; the reason when it did not. */
function buildSnapshot() {
  const tmp = `${blob}.${process.pid}`;
  // NODE_OPTIONS can change V8's configuration, and node refuses a blob built under another one.
  const env = { ...process.env, NO_COLOR: '1' };
  delete env.NODE_OPTIONS;
  const badDir = join(root, 'test/fixtures/spec/bad');
  const bad = existsSync(badDir)
    ? readdirSync(badDir)
        .filter((f) => f.endsWith('.yaml'))
        .sort()
        .slice(0, 8)
        .map((f) => join(badDir, f))
    : [];
  const examples = ['seed-000-vllm.yaml', 'seed-000-mpi-inference.yaml', 'quickstart.yaml']
    .map((f) => join(root, 'examples', f))
    .filter((f) => existsSync(f));
  const made = spawnSync(
    process.execPath,
    ['--snapshot-blob', tmp, '--build-snapshot', join(out, 'fast/snapshot.cjs'), ...examples, ...bad],
    { cwd: root, env, stdio: 'ignore' },
  );
  if (made.status !== 0 || !existsSync(tmp)) {
    rmSync(tmp, { force: true });
    return `node --build-snapshot exited ${made.status ?? made.signal}`;
  }
  const checks = [['--version'], ...[examples[0], bad[0]].filter(Boolean).map((f) => ['validate', f])];
  for (const args of checks) {
    const opts = { cwd: root, env, encoding: 'utf8' };
    const got = spawnSync(process.execPath, ['--snapshot-blob', tmp, '--', ...args], opts);
    const want = spawnSync(process.execPath, [join(out, 'fast/run.cjs'), ...args], opts);
    if (got.status !== want.status || got.stdout !== want.stdout || got.stderr !== want.stderr) {
      rmSync(tmp, { force: true });
      return `it answers \`${args.join(' ')}\` differently from fast/run.cjs`;
    }
  }
  // The launcher uses the blob only with a node binary of the same mtime (`touch -r` keeps nanoseconds).
  if (spawnSync('touch', ['-r', process.execPath, `${blob}.node`]).status !== 0) {
    rmSync(tmp, { force: true });
    return 'touch -r failed';
  }
  renameSync(tmp, blob);
  return undefined;
}
