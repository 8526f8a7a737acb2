/**
 * The local runtime's long-running processes: detached (each leads its own process group), output appended
 * to a log file, told apart by their start time in /proc, stopped as a group.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import type { ProcessLauncher } from '../../ports.js';
import { PRIVATE_FILE_MODE } from '../../state-root.js';
import { stopGroup } from '../processes.js';
import { readProcStartTime } from '../service-state.js';

export const localLauncher: ProcessLauncher = {
  launch(argv, options) {
    const fd = openSync(options.logFile, 'a', PRIVATE_FILE_MODE);
    let child;
    try {
      child = spawn(argv[0] as string, argv.slice(1), {
        ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
        env: { ...options.env },
        detached: true,
        stdio: ['ignore', fd, fd],
      });
    } finally {
      closeSync(fd);
    }
    child.on('error', () => undefined);
    const c = child;
    return {
      pid: c.pid,
      onExit(fn) {
        c.on('exit', (code, signal) => fn(code, signal));
      },
    };
  },
  startTime: readProcStartTime,
  stopGroup,
};
