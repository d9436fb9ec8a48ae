#!/usr/bin/env bash
# CI job "mpi": attune::distributed (include/attune/distributed/) over Open MPI from Debian
# (openmpi-bin, libopenmpi-dev), in build-mpi/: builds only the distributed tests, the example and
# cp_bench, runs ctest -L distributed (distributed.np2/np3/np4 and example.context_parallel, under
# mpiexec --oversubscribe; CI runs as root, so cmake/distributed.cmake sets Open MPI's
# OMPI_ALLOW_RUN_AS_ROOT variables for them) and cp_bench once at a small size on 1 and 2 ranks.
#   scripts/ci/mpi.sh [extra ctest arguments]
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
attune_install_deps
ci_install openmpi-bin libopenmpi-dev

dir="$root/build-mpi"
cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=Release -DATTUNE_WERROR=ON -DATTUNE_TEST_ARCHS=best \
  -DATTUNE_BUILD_BENCH=OFF -DATTUNE_BUILD_DISTRIBUTED_BENCH=ON -DATTUNE_BUILD_EXAMPLES=ON -DATTUNE_BUILD_DISTRIBUTED=ON
cmake --build "$dir" -j "$jobs" --target attune_distributed_tests attune_context_parallel cp_bench
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
for np in 1 2; do
  mpiexec -n "$np" --oversubscribe --bind-to none "$dir/bench/distributed/cp_bench" --L 2048 --D 64 --H 4 --Hkv 2 --threads 1 --causal --reps 2
done
mpiexec -n 2 --oversubscribe --bind-to none "$dir/bench/distributed/cp_bench" --decode --Lk 65536 --D 64 --H 4 --Hkv 2 --threads 1 --reps 3
ci_ctest mpi "$dir" -L distributed "$@"
