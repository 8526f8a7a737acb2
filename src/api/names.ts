/**
 * Every string that crosses a boundary, defined once, split by what it names: the rank environment
 * (env-names.ts), files and state (files-names.ts), Kubernetes (kubernetes-names.ts) and Slurm
 * (slurm-names.ts). This module gathers them for callers that use several.
 */
export * from './env-names.js';
export * from './files-names.js';
export * from './kubernetes-names.js';
export * from './slurm-names.js';
