/**
 * Stopping process groups safely: a rank leads its own process group; we signal the group only while its
 * leader is the very process we started (pid + start time), and otherwise only the members of that group
 * started after it (so a reused pid never gets a signal meant for someone else).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { readProcStartTime } from './service-state.js';

interface ProcInfo {
  pid: number;
  pgrp: number;
  startTime: number;
}

/**
 * Every live process, read from /proc in one go. Synchronous on purpose: a few thousand tiny reads of
 * /proc files take milliseconds this way, while the same reads through the thread pool (open, stat, read,
 * close, four hops each) took ~1 s for a few hundred processes when eight groups polled at once.
 */
function scanProcs(): ProcInfo[] {
  const out: ProcInfo[] = [];
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const d of names) {
    if (d.charCodeAt(0) < 48 || d.charCodeAt(0) > 57 || !/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'latin1');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (rest[0] === 'Z' || rest[0] === 'X') continue; // exited, waiting to be reaped
      out.push({ pid: Number(d), pgrp: Number(rest[2]), startTime: Number(rest[19]) });
    } catch {
      /* gone */
    }
  }
  return out;
}

let nextScan: Promise<ProcInfo[]> | undefined;

/**
 * A read of /proc taken after this call, shared by every caller in the same turn of the event loop: groups
 * stopped together (all ranks and sshds of a service) poll with one scan per round, not one each — which
 * made stopping n groups cost n scans of a process table that itself grows with n.
 */
function readProcs(): Promise<ProcInfo[]> {
  nextScan ??= new Promise((resolve) => {
    setImmediate(() => {
      nextScan = undefined;
      resolve(scanProcs());
    });
  });
  return nextScan;
}

/** Pids still in the group led by `pgid` that started no earlier than the leader. */
export async function groupMembers(pgid: number, leaderStartTime: string): Promise<number[]> {
  const since = Number(leaderStartTime);
  return (await readProcs()).filter((p) => p.pgrp === pgid && p.startTime >= since).map((p) => p.pid);
}

/**
 * Polling after SIGTERM: most processes are gone within milliseconds, so the first looks come soon (5, 10,
 * 20 ms), then every 50 ms (a look is cheap: see readProcs).
 */
const POLL_FIRST_MS = 5;
const POLL_MS = 50;

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

/** SIGTERM to the group, then SIGKILL after `graceMs`; resolves once nothing of the group is left. */
export async function stopGroup(pgid: number, startTime: string, graceMs = 3000): Promise<void> {
  const leaderSame = (await readProcStartTime(pgid)) === startTime;
  const members = await groupMembers(pgid, startTime);
  if (!leaderSame && members.length === 0) return;
  if (leaderSame) signal(-pgid, 'SIGTERM');
  for (const p of members) signal(p, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  for (let wait = POLL_FIRST_MS; Date.now() < deadline; wait = Math.min(POLL_MS, wait * 2)) {
    if ((await groupMembers(pgid, startTime)).length === 0) return;
    await new Promise((r) => setTimeout(r, wait));
  }
  for (let i = 0; i < 20; i++) {
    const left = await groupMembers(pgid, startTime);
    if (left.length === 0) return;
    signal(-pgid, 'SIGKILL');
    for (const p of left) signal(p, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Stops one process (not a group), TERM then KILL, if it is still the one we recorded. */
export async function stopProcess(pid: number, startTime: string, graceMs = 3000): Promise<void> {
  if ((await readProcStartTime(pid)) !== startTime) return;
  signal(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  for (let wait = POLL_FIRST_MS; Date.now() < deadline; wait = Math.min(POLL_MS, wait * 2)) {
    if ((await readProcStartTime(pid)) !== startTime) return;
    await new Promise((r) => setTimeout(r, wait));
  }
  signal(pid, 'SIGKILL');
  for (let i = 0; i < 40 && (await readProcStartTime(pid)) === startTime; i++)
    await new Promise((r) => setTimeout(r, 25));
}
