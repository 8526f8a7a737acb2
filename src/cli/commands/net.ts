/** `multinode net set|partition|heal|show|schedule`: network conditions on an emulated cluster. */
import type { Command } from 'commander';
import { EXIT, MultinodeError } from '../../api/issues.js';
import { RATE_HELP, parseDuration, parsePercent, parseRate } from '../../spec/netcond.js';
import {
  describeCondition,
  describeShape,
  describeTarget,
  netHeal,
  netPartition,
  netSet,
  netShow,
  runSchedule,
} from '../../app/net.js';
import type { NetChange } from '../../app/net.js';
import { paint, printJson, table } from '../output.js';
import { requireRoot } from './runtime-common.js';

function bad(message: string): MultinodeError {
  return new MultinodeError('cli.bad-option', message, { exitCode: EXIT.badInput });
}

function nodeList(flag: string, text: string): string[] {
  const names = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (names.length === 0) throw bad(`${flag}: give node names separated by commas, e.g. node-1,node-2`);
  return names;
}

interface SetOpts {
  node?: string;
  link?: string;
  rail?: string;
  rate?: string;
  loss?: string;
  delay?: string;
  direction?: string;
  output: string;
}

function printChange(change: NetChange, json: boolean): void {
  if (json) {
    printJson({ added: change.added, removed: change.removed, conditions: change.state.conditions });
    return;
  }
  for (const c of change.removed)
    console.log(`${paint('yellow', 'cleared', process.stdout)} ${describeCondition(c)}`);
  for (const c of change.added)
    console.log(`${paint('green', 'set', process.stdout)} ${describeCondition(c)}`);
  if (change.added.length === 0 && change.removed.length === 0) console.log('nothing to change');
}

export function registerNet(program: Command): void {
  const net = program
    .command('net')
    .description(
      'Network conditions on an emulated cluster: rate, loss, delay and partitions, set and cleared while services run.',
    );
  net
    .command('set')
    .argument('<cluster>', 'cluster name')
    .description(
      'Limit the rate, drop a share of frames or delay them on nodes (default: every node), a link between two nodes, or a fabric rail.',
    )
    .option('--node <nodes>', 'nodes, comma-separated (default: every node)')
    .option('--link <a,b>', 'only traffic between these two nodes')
    .option('--rail <k>', 'fabric rail K (fabricK NICs) instead of the underlay')
    .option('--rate <rate>', 'bandwidth, tc units: 10gbit, 500mbit, 100kbit, 1mbps (bytes/s)')
    .option('--loss <percent>', 'drop this share of frames, e.g. 5% (two decimals)')
    .option('--delay <duration>', "add latency, e.g. 10ms (needs the kernel's netem)")
    .option('--direction <dir>', 'to (frames the node receives), from (it sends) or both', 'both')
    .option('-o, --output <format>', 'text or json', 'text')
    .action(async (cluster: string, opts: SetOpts) => {
      requireRoot('net set');
      if (opts.node !== undefined && opts.link !== undefined) throw bad('give --node or --link, not both');
      const target: { nodes?: string[]; link?: [string, string]; rail?: number } = {};
      if (opts.node !== undefined) target.nodes = nodeList('--node', opts.node);
      if (opts.link !== undefined) {
        const l = nodeList('--link', opts.link);
        if (l.length !== 2 || l[0] === undefined || l[1] === undefined)
          throw bad('--link names two nodes, e.g. node-1,node-2');
        target.link = [l[0], l[1]];
      }
      if (opts.rail !== undefined) {
        const k = Number(opts.rail);
        if (!Number.isInteger(k) || k < 0)
          throw bad(`--rail must be a rail number 0, 1, …; got "${opts.rail}"`);
        target.rail = k;
      }
      const shape: { rate?: number; loss?: number; delayMs?: number } = {};
      if (opts.rate !== undefined) {
        const r = parseRate(opts.rate);
        if (r === undefined) throw bad(`--rate: cannot read "${opts.rate}"; ${RATE_HELP}`);
        shape.rate = r;
      }
      if (opts.loss !== undefined) {
        const l = parsePercent(opts.loss);
        if (l === undefined) throw bad(`--loss: "${opts.loss}" is not a percentage 0–100 (e.g. 5% or 0.5%)`);
        shape.loss = l;
      }
      if (opts.delay !== undefined) {
        const d = parseDuration(opts.delay);
        if (d === undefined || d === 0) throw bad(`--delay: "${opts.delay}" is not a duration (e.g. 10ms)`);
        shape.delayMs = d;
      }
      const dir = opts.direction ?? 'both';
      if (dir !== 'to' && dir !== 'from' && dir !== 'both')
        throw bad(`--direction must be to, from or both; got "${dir}"`);
      const change = await netSet(cluster, {
        target: target,
        shape: shape,
        direction: dir,
      });
      printChange(change, opts.output === 'json');
    });
  net
    .command('partition')
    .argument('<cluster>', 'cluster name')
    .argument('<group-a>', 'nodes on one side, comma-separated')
    .argument('[group-b]', 'nodes on the other side (default: every other node)')
    .description(
      'Cut two groups of nodes apart: every frame between them is dropped, on the underlay and every rail.',
    )
    .option('-o, --output <format>', 'text or json', 'text')
    .action(async (cluster: string, a: string, b: string | undefined, opts: { output: string }) => {
      requireRoot('net partition');
      const change = await netPartition(
        cluster,
        nodeList('group A', a),
        b === undefined ? undefined : nodeList('group B', b),
      );
      printChange(change, opts.output === 'json');
    });
  net
    .command('heal')
    .argument('<cluster>', 'cluster name')
    .argument('[ids...]', 'only these conditions (numbers from `net show`)')
    .description(
      'Remove conditions: every one set by `net set`, `net partition` or a schedule (the link profile stays unless --all).',
    )
    .option('--all', "also remove the cluster's link profile (from `cluster create --links`)")
    .option('-o, --output <format>', 'text or json', 'text')
    .action(async (cluster: string, ids: string[], opts: { all?: boolean; output: string }) => {
      requireRoot('net heal');
      const nums = ids.map((i) => {
        const n = Number(i.replace(/^#/, ''));
        if (!Number.isInteger(n) || n < 1)
          throw bad(`condition ids are numbers (see \`net show\`); got "${i}"`);
        return n;
      });
      const change = await netHeal(cluster, { ids: nums, all: opts.all === true });
      printChange(change, opts.output === 'json');
    });
  net
    .command('show')
    .argument('<cluster>', 'cluster name')
    .description('Show the conditions active on a cluster and the kernel objects that make them.')
    .option('-o, --output <format>', 'text or json', 'text')
    .action(async (cluster: string, opts: { output: string }) => {
      const s = await netShow(cluster);
      if (opts.output === 'json') {
        printJson(s);
        return;
      }
      if (s.conditions.length === 0) {
        console.log(`no network conditions on ${cluster}`);
        return;
      }
      const rows = [['ID', 'SOURCE', 'TARGET', 'CONDITION', 'DIRECTION', 'SINCE']];
      for (const c of s.conditions) {
        rows.push([String(c.id), c.source, describeTarget(c), describeShape(c), c.direction, c.since]);
      }
      console.log(table(rows));
      const a = s.applied;
      console.log(
        `kernel: ${a.root.length} port qdisc(s), ${a.ingress.length} ingress redirect(s) to ifb, ${a.table ? '1 nft table' : 'no nft table'} (switch namespace)`,
      );
    });
  net
    .command('schedule')
    .argument('<cluster>', 'cluster name')
    .argument(
      '<file>',
      'schedule YAML: faults: [{at, action, duration, node|link|rail, rate|loss|delay|groups}]',
    )
    .description(
      "Run faults over time (partition, bandwidth, loss, delay, heal), logged with timestamps to net.log beside each service's rank logs.",
    )
    .action(async (cluster: string, file: string) => {
      requireRoot('net schedule');
      const ac = new AbortController();
      const stop = () => ac.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      try {
        await runSchedule(cluster, file, { print: (l) => console.log(l), signal: ac.signal });
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
    });
}
