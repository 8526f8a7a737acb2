/**
 * The CRD schemas shipped in src/targets/kubernetes/crds/ are the official ones: each equals the
 * `openAPIV3Schema` of its source file in ../shared/k8s-crds/ (named in the JSON's `source`) minus
 * `description` strings. Skips when the shared folder is not present.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

const root = join(import.meta.dirname, '..', '..');
const shipped = join(root, 'src', 'targets', 'kubernetes', 'crds');
const shared = join(root, '..', 'shared');

function strip(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(strip);
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(
      Object.entries(v as Record<string, unknown>)
        .filter(([k, x]) => !(k === 'description' && typeof x === 'string'))
        .map(([k, x]) => [k, strip(x)]),
    );
  }
  return v;
}

test(
  'shipped CRD schemas equal the official CRDs (descriptions dropped)',
  { skip: existsSync(join(shared, 'k8s-crds')) ? false : 'no ../shared/k8s-crds here' },
  () => {
    const files = readdirSync(shipped).filter((f) => f.endsWith('.json'));
    assert.equal(files.length, 5);
    for (const f of files) {
      const ours = JSON.parse(readFileSync(join(shipped, f), 'utf8')) as {
        source: string;
        apiVersion: string;
        kind: string;
        openAPIV3Schema: unknown;
      };
      const crd = parse(readFileSync(join(shared, ours.source), 'utf8')) as {
        spec: {
          group: string;
          names: { kind: string };
          versions: { name: string; schema: { openAPIV3Schema: unknown } }[];
        };
      };
      const v = crd.spec.versions[0];
      assert.equal(ours.apiVersion, `${crd.spec.group}/${v?.name}`, f);
      assert.equal(ours.kind, crd.spec.names.kind, f);
      assert.deepEqual(ours.openAPIV3Schema, strip(v?.schema.openAPIV3Schema), f);
    }
  },
);
