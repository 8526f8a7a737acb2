/**
 * A named volume (`reference: volume://…`) shared by two services: one writes it, the other mounts it
 * read-only, reads what the first wrote and is refused when it writes; `down` keeps the named volume,
 * `down --volumes FILE` removes it; nothing stays mounted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
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

const skip = skipReason(['pivot_root']);

test(
  'named volume shared by two services; read-only mount refuses writes',
  { skip, timeout: 240_000 },
  () => {
    const state = makeStateDir('volnamed');
    try {
      const file = join(state, 'named.yaml');
      writeFileSync(
        file,
        `version: v1
volumes:
  shared:
    reference: volume://team/shared-cache
services:
  writer:
    mounts:
      shared:
        location: /srv/mn-shared
    script: |
      #!/bin/sh
      echo "from writer" > /srv/mn-shared/note.tmp && mv /srv/mn-shared/note.tmp /srv/mn-shared/note
  reader:
    mounts:
      shared:
        location: /mnt/mn-shared
        read-only: true
    script: |
      #!/bin/sh
      i=0; while [ ! -f /mnt/mn-shared/note ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
      echo "reader read: $(cat /mnt/mn-shared/note)"
      if echo x > /mnt/mn-shared/other 2>/dev/null; then echo "reader wrote"; else echo "reader refused"; fi
`,
      );
      assert.equal(cli(state, ['cluster', 'create', 'vn', '--nodes', '2']).code, 0);
      const up = cli(state, ['up', file], 200_000);
      assert.equal(up.code, 0, `${up.stdout}\n${up.stderr}`);
      assert.match(up.stdout, /reader read: from writer/);
      assert.match(up.stdout, /reader refused/);
      const dir = join(state, 'volumes', 'named', 'team.shared-cache');
      assert.equal(readFileSync(join(dir, 'note'), 'utf8'), 'from writer\n', 'down keeps a named volume');
      assert.equal(existsSync(join(dir, 'other')), false);
      assert.equal(
        existsSync('/srv/mn-shared') || existsSync('/mnt/mn-shared'),
        false,
        'host tree untouched',
      );
      const down = cli(state, ['down', '--volumes', file]);
      assert.equal(down.code, 0, down.stderr);
      assert.equal(existsSync(dir), false, 'down --volumes removes it');
      assert.equal(cli(state, ['cluster', 'delete', 'vn']).code, 0);
      assert.deepEqual(
        snapshot(
          state,
          hashesFor(
            state,
            ['vn'],
            [
              ['vn', 'writer'],
              ['vn', 'reader'],
            ],
          ),
        ),
        EMPTY_SNAPSHOT,
      );
      const anywhere = readdirSync('/proc')
        .filter((d) => /^\d+$/.test(d))
        .flatMap((d) => {
          try {
            return readFileSync(`/proc/${d}/mountinfo`, 'utf8').split('\n');
          } catch {
            return [];
          }
        })
        .filter((l) => l.includes(state));
      assert.deepEqual(anywhere, []);
    } finally {
      cleanupStateDir(state);
    }
  },
);
