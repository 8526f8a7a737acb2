/**
 * The shell pieces both SSH wrappers share — the local one (targets/local/ssh/wrapper.ts) and the pod's
 * (pod-entrypoint.ts): skipping ssh's own options as OpenMPI and users pass them, and turning the words
 * left after HOST into one command line, with whether the remote streams come back and whether a tty is
 * asked for. Pure text.
 */
import { ENV } from '../api/names.js';

/** Drops ssh's own options (those taking a value drop it too), up to HOST or `--`. */
export const SKIP_SSH_OPTIONS = `while [ $# -gt 0 ]; do
  case $1 in
    --) shift; break ;;
    -[BbcDEeFIiJLlmOoPpQRSWw]) shift; [ $# -gt 0 ] && shift ;;
    -?*) shift ;;
    *) break ;;
  esac
done
`;

/**
 * Sets \`<p>fwd\` (1: remote stdout/stderr come back — asked for, or an interactive session), \`<p>tty\`
 * (\`-tt\` for an interactive session on a terminal) and \`<p>cmd\` (the words joined by spaces, its single
 * quotes escaped for a '…' string), where \`<p>\` is \`prefix\`.
 */
export function wrapperCommandShell(prefix: string): string {
  const p = prefix;
  return `${p}fwd=0
[ "\${${ENV.wrapperForwardStreams}:-}" = 1 ] && ${p}fwd=1
${p}tty=-T
if [ $# -eq 0 ]; then
  ${p}fwd=1
  [ -t 0 ] && ${p}tty=-tt
fi
IFS=' '
${p}cmd="$*"
case $${p}cmd in *"'"*) ${p}cmd=$(printf '%s\\n' "$${p}cmd" | sed "s/'/'\\\\\\\\''/g") ;; esac
`;
}
