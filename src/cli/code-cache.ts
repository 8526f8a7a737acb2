/**
 * Runs a CommonJS bundle with a V8 code cache (`<bundle>.cache`): compiling ~700 KB of JavaScript (zod,
 * yaml, commander, the spec layer) is most of a short command's start-up, and V8's cached data skips it.
 * The cache is written after the run (so it holds the functions the run compiled lazily) when missing or
 * rejected (another node or V8 version), atomically and best-effort: a read-only install just runs uncached.
 * Bundled by scripts/build.mjs twice: `dist/fast/run.cjs` runs `dist/fast/validate.cjs` (validate and
 * --version), `dist/fast/cli-run.cjs` runs `dist/fast/cli.cjs` (every command: full.ts); the bundle is named
 * by MULTINODE_CODE_BUNDLE, defined at build time.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Script } from 'node:vm';

declare const MULTINODE_CODE_BUNDLE: string;

const file = join(__dirname, MULTINODE_CODE_BUNDLE);
const cacheFile = `${file}.cache`;
let cached: Buffer | undefined;
try {
  cached = readFileSync(cacheFile);
} catch {
  cached = undefined;
}
const wrapped = `(function (exports, require, module, __filename, __dirname) {${readFileSync(file, 'utf8')}\n})`;
const script = new Script(wrapped, cached ? { filename: file, cachedData: cached } : { filename: file });
if (cached === undefined || script.cachedDataRejected === true) {
  process.once('exit', () => {
    try {
      const tmp = `${cacheFile}.${process.pid}`;
      writeFileSync(tmp, script.createCachedData());
      renameSync(tmp, cacheFile);
    } catch {
      // best effort: no cache next time either
    }
  });
}
const fn = script.runInThisContext() as (
  exports: object,
  require: NodeRequire,
  module: { exports: object },
  filename: string,
  dirname: string,
) => void;
const mod = { exports: {} };
// The bundle only requires node's built-in modules, which this module's `require` resolves alike.
fn(mod.exports, require, mod, file, dirname(file));
