/**
 * Extracts the `openAPIV3Schema` of the custom resources the Kubernetes renderer emits from the official CRD
 * files in `../shared/k8s-crds/` (sources and commits in that folder's SOURCES.md) into
 * `src/targets/kubernetes/crds/<group>_<kind>.json`, which the product ships and `validate.ts` loads lazily.
 * `description` fields are dropped (they are most of the bytes and never affect validation); everything else is
 * kept unchanged in meaning. Output is formatted with the repository's prettier settings.
 * Run: `node --import tsx scripts/extract-crds.ts [CRD_DIR]`; re-running on the same CRDs changes no byte.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { format, resolveConfig } from 'prettier';
import { parse } from 'yaml';

const crdDir = process.argv[2] ?? join(import.meta.dirname, '..', '..', 'shared', 'k8s-crds');
const outDir = join(import.meta.dirname, '..', 'src', 'targets', 'kubernetes', 'crds');

/** CRD file → output name. Only what the renderer emits. */
const WANTED: Readonly<Record<string, string>> = {
  'leaderworkerset.x-k8s.io_leaderworkersets.yaml': 'leaderworkerset',
  'grove.io_podcliquesets.yaml': 'podcliqueset',
  'scheduling.volcano.sh_podgroups.yaml': 'volcano-podgroup',
  'k8s.cni.cncf.io_network-attachment-definitions.yaml': 'network-attachment-definition',
  'jobset.x-k8s.io_jobsets.yaml': 'jobset',
};

function stripDescriptions(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripDescriptions);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (k === 'description' && typeof v === 'string') continue;
      out[k] = stripDescriptions(v);
    }
    return out;
  }
  return value;
}

interface CrdDoc {
  spec: {
    group: string;
    names: { kind: string };
    versions: { name: string; schema: { openAPIV3Schema: unknown } }[];
  };
}

for (const [file, name] of Object.entries(WANTED)) {
  const crd = parse(readFileSync(join(crdDir, file), 'utf8'), { maxAliasCount: -1 }) as CrdDoc;
  const version = crd.spec.versions[0];
  if (!version) throw new Error(`${file}: no versions`);
  const out = {
    source: `k8s-crds/${file}`,
    apiVersion: `${crd.spec.group}/${version.name}`,
    kind: crd.spec.names.kind,
    openAPIV3Schema: stripDescriptions(version.schema.openAPIV3Schema),
  };
  const path = join(outDir, `${name}.json`);
  // Formatted as the repository's prettier would, so `format:check` stays clean after a re-extraction.
  const options = (await resolveConfig(path)) ?? {};
  writeFileSync(path, await format(JSON.stringify(out), { ...options, parser: 'json' }));
  console.log(`${path}: ${out.apiVersion} ${out.kind}`);
}
