/* MPI test program for the SSH/MPI launch tests: every rank reports its host name, then the ranks run one
 * small and ten 8 MiB MPI_Allreduce calls. Rank 0 prints "RESULT ok sum=<n(n+1)/2> ranks=<n>" when every
 * element of every reduction is right, "RESULT bad ..." otherwise (exit 1). */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#define BIG (8 * 1024 * 1024 / sizeof(double))
#define ROUNDS 10

int main(int argc, char **argv) {
  int rank, size, len, bad = 0;
  char host[MPI_MAX_PROCESSOR_NAME];
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  MPI_Get_processor_name(host, &len);
  printf("RANK %d HOST %s\n", rank, host);
  fflush(stdout);

  long one = rank + 1, sum = 0;
  MPI_Allreduce(&one, &sum, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
  long expect = (long)size * (size + 1) / 2;
  if (sum != expect) bad = 1;

  double *in = malloc(BIG * sizeof(double)), *out = malloc(BIG * sizeof(double));
  if (in == NULL || out == NULL) MPI_Abort(MPI_COMM_WORLD, 2);
  for (int r = 0; r < ROUNDS; r++) {
    for (size_t i = 0; i < BIG; i++) in[i] = (double)(rank + 1);
    MPI_Allreduce(in, out, (int)BIG, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    for (size_t i = 0; i < BIG; i += 4099)
      if (out[i] != (double)expect) bad = 1;
  }
  int anybad = 0;
  MPI_Reduce(&bad, &anybad, 1, MPI_INT, MPI_MAX, 0, MPI_COMM_WORLD);
  if (rank == 0) printf("RESULT %s sum=%ld ranks=%d\n", anybad ? "bad" : "ok", sum, size);
  free(in);
  free(out);
  MPI_Finalize();
  return rank == 0 && anybad ? 1 : 0;
}
