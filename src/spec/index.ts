/**
 * The spec layer's entry: `parseSpec(text, file)` runs read → parse (YAML with positions) → schema (zod) →
 * normalize (all defaults) → semantic rules, collecting every problem. Pure: the caller reads the file.
 *
 * When the schema rejects part of the file, each service is salvaged (offending fields pruned, see
 * salvage.ts) and still normalized and checked, so one run reports schema and semantic problems together.
 * Issues come back sorted by position.
 */
import type { Issue, Result } from '../api/issues.js';
import type { Spec, VolumeSpec } from '../api/spec.js';
import { CODES } from './codes.js';
import { parseYamlWithPositions } from './yaml-source.js';
import { ServiceSchema, SpecSchema, VolumeSchema, specJsonSchema } from './schema.js';
import type { RawService } from './schema.js';
import { zodIssuesToIssues } from './zod-issues.js';
import { fileOrder, normalizeService, normalizeSpec } from './normalize.js';
import { checkReplicas, checkService, checkUses, checkVolumes } from './rules.js';
import type { RuleContext } from './rules.js';
import { keepTrustworthy, salvageService } from './salvage.js';
import { joinPath } from './paths.js';
import type { PathSegment } from './paths.js';
import type { TextPolicy } from './text.js';

export { SpecSchema, ServiceSchema, specJsonSchema };
export { CODES, CODE_DOCS } from './codes.js';
export type { SpecCode, CodeDoc } from './codes.js';
export { parseMemorySize, formatBytes, MEMORY_UNITS } from './units.js';
export { SPEC_DEFAULTS } from './normalize.js';
export { parseYamlWithPositions } from './yaml-source.js';
export { isDnsLabel } from './rules.js';
export { SPEC_MAX_BYTES, YAML_LIMITS, checkInputSize } from './bounds.js';
export { checkName, checkSlurmValue, isInside, NAME_KINDS } from './names.js';
export type { NameKind, NameCheck } from './names.js';

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function byPosition(a: Issue, b: Issue): number {
  return (a.pos?.line ?? 0) - (b.pos?.line ?? 0) || (a.pos?.col ?? 0) - (b.pos?.col ?? 0);
}

function finish(issues: Issue[], spec: Spec | undefined): Result<Spec> {
  issues.sort(byPosition);
  if (spec && !issues.some((i) => i.severity === 'error')) return { ok: true, value: spec, warnings: issues };
  return { ok: false, issues };
}

/**
 * Which control characters a string of the spec may hold: scripts, commands and env entries are multi-line
 * text (TAB and LF); every other value — names, image.uri, cwd, mount locations, annotations, endpoint
 * fields — is one line (see text.ts).
 */
export function specTextPolicy(segments: readonly PathSegment[]): TextPolicy {
  if (segments[0] !== 'services' || segments.length < 3) return 'line';
  const field = segments[2];
  if (segments.length === 3 && field === 'script') return 'multiline';
  if (segments.length === 4 && field === 'env') return 'multiline';
  if (segments.length === 4 && field === 'backend' && segments[3] === 'command') return 'multiline';
  return 'line';
}

/**
 * The document without its extension fields, as docker compose has them: a key starting with `x-` at the top
 * level or in a service's definition holds anything (typically an anchor the file aliases elsewhere:
 * `x-common: &common {…}`, then `resource: *common`) and means nothing to multinode.
 */
function withoutExtensions(data: Record<string, unknown>): Record<string, unknown> {
  const drop = (m: Record<string, unknown>): Record<string, unknown> =>
    Object.fromEntries(Object.entries(m).filter(([k]) => !k.startsWith('x-')));
  const out = drop(data);
  const services = out['services'];
  if (isRecord(services))
    out['services'] = Object.fromEntries(
      Object.entries(services).map(([name, svc]) => [name, isRecord(svc) ? drop(svc) : svc]),
    );
  return out;
}

export function parseSpec(text: string, file: string): Result<Spec> {
  const src = parseYamlWithPositions(text, file, { textPolicy: specTextPolicy });
  const issues: Issue[] = [...src.issues];
  // Control characters leave the data usable: go on, so one run reports them with everything else.
  if (src.data === undefined && issues.some((i) => i.severity === 'error')) return finish(issues, undefined);
  const ctx: RuleContext = { file, positions: src.positions, keyPositions: src.keyPositions };

  if (!isRecord(src.data)) {
    issues.push({
      code: CODES.notAMapping,
      severity: 'error',
      path: '',
      pos: src.positions[''] ?? { file, line: 1, col: 1 },
      message:
        src.data === undefined || src.data === null
          ? 'the file is empty; a spec is a mapping with `services` (and optionally `version`, `volumes`)'
          : 'the top level must be a mapping with `services` (and optionally `version`, `volumes`)',
    });
    return finish(issues, undefined);
  }

  // jitless: zod would otherwise compile each object parser with `new Function` — wasted for one parse.
  const parsed = SpecSchema.safeParse(withoutExtensions(src.data), { reportInput: true, jitless: true });
  if (parsed.success) {
    const spec = normalizeSpec(parsed.data, file, src.positions);
    if (spec.services.length === 0) {
      issues.push({
        code: CODES.noServices,
        severity: 'error',
        path: 'services',
        pos: src.positions['services'] ?? { file, line: 1, col: 1 },
        message: 'services is empty; declare at least one service',
      });
    }
    const mounted = new Set(spec.services.flatMap((s) => s.mounts.map((m) => m.volume)));
    issues.push(...checkVolumes(spec.volumes, mounted, ctx));
    const declared = Object.keys(spec.volumes);
    for (const svc of spec.services) {
      const raw = parsed.data.services[svc.name];
      if (raw) issues.push(...checkService(svc, raw, declared, ctx));
    }
    issues.push(...checkReplicas(spec.services, ctx));
    issues.push(...checkUses(spec, ctx));
    return finish(issues, spec);
  }

  issues.push(...zodIssuesToIssues(SpecSchema, parsed.error.issues, ctx));
  // Keep going on the parts that are well-formed, so one run reports as much as possible.
  const volumes: Record<string, VolumeSpec> = {};
  if (isRecord(src.data['volumes'])) {
    for (const [name, v] of Object.entries(src.data['volumes'])) {
      const ok = VolumeSchema.safeParse(v, { jitless: true });
      if (ok.success) volumes[name] = { reference: ok.data.reference };
    }
  }
  const declared = isRecord(src.data['volumes']) ? Object.keys(src.data['volumes']) : [];
  const services = src.data['services'];
  const mounted = new Set<string>();
  if (isRecord(services)) {
    for (const name of fileOrder(services, 'services', src.positions)) {
      const value = services[name];
      if (isRecord(value) && isRecord(value['mounts'])) {
        for (const m of Object.keys(value['mounts'])) mounted.add(m);
      }
      const salvaged = salvageService(value);
      if (!salvaged) continue;
      const raw: RawService = salvaged.raw;
      const svc = normalizeService(name, raw, src.positions);
      const found = checkService(svc, raw, declared, ctx);
      issues.push(...keepTrustworthy(found, salvaged.pruned, joinPath('services', name)));
    }
  }
  issues.push(...checkVolumes(volumes, mounted, ctx));
  return finish(issues, undefined);
}
