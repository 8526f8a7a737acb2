import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RestartSpec } from '../../api/spec.js';
import {
  decideRestart,
  EMPTY_LEDGER,
  recordReady,
  recordRestart,
  backoffSeconds,
  exitStatus,
  type RankExit,
  type RestartLedger,
} from './policy.js';
import { coolingByNode, releasePorts } from './port-pool.js';

const base: RestartSpec = {
  policy: 'on-failure',
  maxRestarts: 2,
  maxStartupRestarts: 3,
  backoffSeconds: 1,
  backoffMaxSeconds: 8,
};
const ok: RankExit = { rank: 1, code: 0, signal: null };
const err1: RankExit = { rank: 1, code: 1, signal: null };
const killed: RankExit = { rank: 1, code: null, signal: 9 };
const ready = recordReady(EMPTY_LEDGER);

const cases: {
  name: string;
  policy: RestartSpec['policy'];
  exit: RankExit;
  ledger?: RestartLedger;
  want: string;
}[] = [
  { name: 'never: exit 0 is done', policy: 'never', exit: ok, want: 'done' },
  { name: 'never: exit 1 fails', policy: 'never', exit: err1, want: 'fail' },
  { name: 'never: SIGKILL fails', policy: 'never', exit: killed, want: 'fail' },
  { name: 'on-failure: exit 0 is done', policy: 'on-failure', exit: ok, want: 'done' },
  { name: 'on-failure: exit 1 restarts the rank', policy: 'on-failure', exit: err1, want: 'restart-rank' },
  { name: 'on-failure: SIGKILL restarts the rank', policy: 'on-failure', exit: killed, want: 'restart-rank' },
  { name: 'exit-code: exit 0 is done', policy: 'exit-code', exit: ok, want: 'done' },
  { name: 'exit-code: exit 1 is permanent', policy: 'exit-code', exit: err1, want: 'fail' },
  { name: 'exit-code: SIGKILL (137) is retried', policy: 'exit-code', exit: killed, want: 'restart-rank' },
  {
    name: 'exit-code: exit 143 is retried',
    policy: 'exit-code',
    exit: { rank: 0, code: 143, signal: null },
    want: 'restart-rank',
  },
  { name: 'recreate-group: exit 0 is done', policy: 'recreate-group', exit: ok, want: 'done' },
  { name: 'recreate-group: exit 1 recreates', policy: 'recreate-group', exit: err1, want: 'recreate-group' },
  {
    name: 'recreate-group: SIGKILL recreates',
    policy: 'recreate-group',
    exit: killed,
    want: 'recreate-group',
  },
  {
    name: 'budget after start spent → fail',
    policy: 'recreate-group',
    exit: err1,
    ledger: { ...ready, restartsAfterStart: 2 },
    want: 'fail',
  },
  {
    name: 'startup failures use their own budget',
    policy: 'recreate-group',
    exit: err1,
    ledger: { ...EMPTY_LEDGER, restartsBeforeStart: 2, restartsAfterStart: 0 },
    want: 'recreate-group',
  },
];

for (const c of cases) {
  test(`decideRestart — ${c.name}`, () => {
    const d = decideRestart({ ...base, policy: c.policy }, c.ledger ?? ready, c.exit, false);
    assert.equal(d.action, c.want, d.reason);
  });
}

test('a crash loop is stopped by the budget', () => {
  const spec: RestartSpec = { ...base, policy: 'recreate-group' };
  let ledger = ready;
  const actions: string[] = [];
  for (let i = 0; i < 10; i++) {
    const d = decideRestart(spec, ledger, err1, false);
    actions.push(d.action);
    if (d.action === 'fail') break;
    ledger = recordRestart(ledger, d);
  }
  assert.deepEqual(actions, ['recreate-group', 'recreate-group', 'fail']);
});

test('backoff doubles and is capped; readiness resets it', () => {
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6].map((n) => backoffSeconds(base, n)),
    [1, 2, 4, 8, 8, 8],
  );
  const afterTwo = recordRestart(
    recordRestart(ready, { action: 'restart-rank', rank: 1, delaySeconds: 0, reason: '' }),
    {
      action: 'restart-rank',
      rank: 1,
      delaySeconds: 0,
      reason: '',
    },
  );
  assert.equal(afterTwo.consecutiveFailures, 2);
  assert.equal(recordReady(afterTwo).consecutiveFailures, 0);
  assert.equal(exitStatus(killed), 137);
});

test('released ports cool down, then become usable', () => {
  const c = releasePorts([], 'node-1', [20001, 20002], 1000, 5000);
  assert.deepEqual(coolingByNode(c, 2000), { 'node-1': [20001, 20002] });
  assert.deepEqual(coolingByNode(c, 6000), {});
  const again = releasePorts(c, 'node-1', [20001], 3000, 5000);
  assert.equal(again.filter((e) => e.port === 20001).length, 1);
});
