/* Tiny MPI allreduce for the Slurm root tests: each rank adds rank+1; then 4 MiB of ones. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  int rank, size, len;
  char host[MPI_MAX_PROCESSOR_NAME];
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  MPI_Get_processor_name(host, &len);
  long mine = rank + 1, sum = 0;
  MPI_Allreduce(&mine, &sum, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
  const int n = 1 << 20;
  int *ones = malloc(n * sizeof(int)), *out = malloc(n * sizeof(int));
  for (int i = 0; i < n; i++) ones[i] = 1;
  MPI_Allreduce(ones, out, n, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  printf("allreduce rank=%d size=%d host=%s sum=%ld big=%d\n", rank, size, host, sum, out[n - 1]);
  fflush(stdout);
  free(ones);
  free(out);
  MPI_Finalize();
  return 0;
}
