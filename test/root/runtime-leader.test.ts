/**
 * `launch: leader` on 3 emulated nodes: rank 0 runs the script and reaches the other ranks through
 * `$MULTINODE_SSH_WRAPPER HOST CMD…` (sshd per rank, started by the supervisor before the script); the
 * remote commands run on the right rank (its host name). Foreground `up`: the service completes and is removed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  EMPTY_SNAPSHOT,
  cleanupStateDir,
  cli,
  hashesFor,
  makeStateDir,
  skipReason,
  snapshot,
} from './runtime-helpers.js';

const skip = skipReason(['/usr/sbin/sshd', 'ssh']);

test(
  'leader launch: rank 0 runs commands on the other ranks through the SSH wrapper',
  { skip, timeout: 120_000 },
  () => {
    const state = makeStateDir('lead');
    try {
      const file = join(state, 'lead.yaml');
      writeFileSync(
        file,
        `version: v1
services:
  lead:
    script: |
      #!/bin/sh
      IFS=','
      for h in $MULTINODE_HOSTLIST_NOSLOTS; do
        [ "$h" = "$(hostname)" ] && continue
        echo "remote $h says $(MULTINODE_WRAPPER_FORWARD_STREAMS=1 $MULTINODE_SSH_WRAPPER $h hostname)"
      done
    multinode:
      nodes: 3
`,
      );
      assert.equal(cli(state, ['cluster', 'create', 'ld', '--nodes', '3']).code, 0);
      const up = cli(state, ['up', file], 100_000);
      assert.equal(up.code, 0, `${up.stdout}\n${up.stderr}`);
      assert.match(up.stdout, /lead-0 +\| remote lead-1 says lead-1/);
      assert.match(up.stdout, /lead-0 +\| remote lead-2 says lead-2/);
      assert.equal(cli(state, ['cluster', 'delete', 'ld']).code, 0);
      assert.deepEqual(snapshot(state, hashesFor(state, ['ld'], [['ld', 'lead']])), EMPTY_SNAPSHOT);
    } finally {
      cleanupStateDir(state);
    }
  },
);
