/** Names the Slurm target's scripts and job records use. */

/** The Slurm target (docs/guides/slurm.md): names its sbatch scripts and job records use. */
export const SLURM_TARGET = {
  /** Set by the user: per-job directory for the hostfile, cluster file and wrapper on every node. */
  jobDirEnv: 'MULTINODE_JOB_DIR',
  /** Default job directory, under `${TMPDIR:-/tmp}`, suffixed with the Slurm job id. */
  jobDirPrefix: 'multinode-',
  /** Under the state directory: job records, submitted scripts and batch output. */
  jobsDir: 'slurm/jobs',
  /** Under an emulated cluster's directory: its Slurm (configs, munge, spool, logs). */
  clusterDir: 'slurm',
  /** The Slurm partition `cluster create --slurm` defines. */
  partition: 'multinode',
} as const;
