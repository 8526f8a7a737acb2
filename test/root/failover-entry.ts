/**
 * A detached supervisor for the failover tests and bench, without the CLI around it: bundled once with
 * esbuild (see failover-helpers.ts) so it starts in a fraction of `tsx src/cli/main.ts __supervise`'s time.
 */
import { superviseService } from '../../src/targets/local/supervisor.js';

const name = process.argv[2] ?? '';
const stop = new AbortController();
process.on('SIGTERM', () => stop.abort());
process.on('SIGINT', () => stop.abort());
process.on('SIGHUP', () => undefined);
superviseService(name, {
  stop: stop.signal,
  onEvent: (e) => console.log(`${new Date().toISOString()} ${JSON.stringify(e)}`),
}).then(
  (code) => (process.exitCode = code),
  (e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  },
);
