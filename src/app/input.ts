/**
 * Spec and inventory files named on the command line, read (bounded, see read-input.ts) and parsed.
 */
import { EXIT, MultinodeError } from '../api/issues.js';
import type { Inventory } from '../api/inventory.js';
import type { Issue } from '../api/issues.js';
import type { Spec } from '../api/spec.js';
import { parseSpec } from '../spec/index.js';
import { parseInventory } from '../spec/inventory.js';
import { displayName, readInputText } from './read-input.js';

export { displayName, readInputText } from './read-input.js';

export interface ReadSpecResult {
  readonly spec: Spec;
  readonly warnings: readonly Issue[];
}

/**
 * Reads and parses a spec file. Unreadable: `spec.unreadable`; invalid: `spec.invalid` with every located
 * issue; both exit 2.
 */
export function readSpecFile(file: string): ReadSpecResult {
  const r = parseSpec(readInputText(file, 'spec'), displayName(file));
  if (!r.ok)
    throw new MultinodeError('spec.invalid', `${file} is not a valid spec`, {
      issues: r.issues,
      exitCode: EXIT.badInput,
    });
  return { spec: r.value, warnings: r.warnings };
}

/** Reads and parses an inventory file; invalid: `inventory.invalid` (exit 2) with the located issues. */
export function readInventoryFile(file: string): Inventory {
  const r = parseInventory(readInputText(file, 'inventory'), displayName(file));
  if (!r.ok)
    throw new MultinodeError('inventory.invalid', `${file}: invalid inventory`, {
      issues: r.issues,
      exitCode: EXIT.badInput,
    });
  return r.value;
}
