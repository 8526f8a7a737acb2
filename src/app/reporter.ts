/**
 * How the application layer talks to whoever drives it. The CLI prints (colours, stderr for progress,
 * stdout for results); tests and benchmarks pass `silentReporter` or collect the calls. The app never
 * writes to a terminal itself.
 */
import type { Issue } from '../api/issues.js';

export interface Reporter {
  /** Progress and notes a person watching wants to see (stderr in the CLI). */
  note(message: string): void;
  /** Transient progress (`waiting for rank 0…`): the CLI shows it on a terminal only. */
  progress(message: string): void;
  /** A step that succeeded (`submitted …`, `completed …`), shown as a result line (stdout in the CLI). */
  success(message: string): void;
  /** A line of a job's or rank's output, passed through as is (stdout in the CLI). */
  output(
    line: string,
    source?: { readonly service: string; readonly rank?: number; readonly host?: string },
  ): void;
  /** Located warnings (and errors that did not stop the run). */
  issues(issues: readonly Issue[]): void;
}

export const silentReporter: Reporter = {
  note: () => undefined,
  progress: () => undefined,
  success: () => undefined,
  output: () => undefined,
  issues: () => undefined,
};
