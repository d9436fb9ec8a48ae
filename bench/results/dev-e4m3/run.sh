#!/usr/bin/env bash
# A/B of e4m3 decode's finite widening (commit e48a1e2) on this machine: e4m3_decode.cpp built
# against the tree before it (e48a1e2~1) and at it, for AVX-512 (-march=native) and AVX2
# (-mavx2 -mfma -mf16c), run alternately. From the repository root: bench/results/dev-e4m3/run.sh
set -euo pipefail
root="$(git rev-parse --show-toplevel)"
out="$(mktemp -d)"
for rev in e48a1e2~1 e48a1e2; do
  git -C "$root" worktree add -q --detach "$out/$rev" "$rev"
  for isa in native avx2; do
    flags=(-march=native)
    [ "$isa" = avx2 ] && flags=(-mavx2 -mfma -mf16c)
    g++ -std=c++17 -O2 "${flags[@]}" -fopenmp -I "$out/$rev/include" -isystem /usr/include/eigen3 \
      "$root/bench/results/dev-e4m3/e4m3_decode.cpp" -o "$out/bin-$rev-$isa"
  done
  git -C "$root" worktree remove --force "$out/$rev"
done
for round in 1 2; do
  for isa in native avx2; do
    for rev in e48a1e2~1 e48a1e2; do
      echo -n "round $round $isa $rev: "
      OMP_NUM_THREADS=1 "$out/bin-$rev-$isa" 512
    done
  done
done
