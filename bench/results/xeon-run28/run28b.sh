#!/usr/bin/env bash
# Run 28b (#22): dispatch_ab.cpp built as a distribution builds it (plain -O2, no -march), with and
# without attune_dispatch(), one thread (OMP_NUM_THREADS=1), five rounds of [base, dispatched,
# dispatched pinned to sse2]. (Run 28's build of it failed on the bug fixed with it: attune_dispatch()
# called from a project that add_subdirectory'd attune did not find builtin_instances.cpp.) Needs .deb.
set -uo pipefail
root=$(pwd); FINAL=$OUT; OUT=/tmp/r; mkdir -p $OUT
P="-DCMAKE_PREFIX_PATH=$root/.deb/root/usr -DCMAKE_FIND_PACKAGE_PREFER_CONFIG=ON"
trap 'tar czf $FINAL/all.tgz -C /tmp r' EXIT
date > $OUT/times.txt
cmake -S $root/bench/results/xeon-run28 -B /tmp/b-ab -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" $P \
  -DATTUNE_ROOT=$root > $OUT/cmake-ab.log 2>&1 && cmake --build /tmp/b-ab -j 3 > $OUT/build-ab.log 2>&1 || grep -E "error" $OUT/build-ab.log | head
date >> $OUT/times.txt
export OMP_NUM_THREADS=1
for r in 1 2 3 4 5; do
  echo "round $r ab_base: $(timeout 60 /tmp/b-ab/ab_base)" >> $OUT/ab.txt
  echo "round $r ab_dispatch: $(timeout 60 /tmp/b-ab/ab_dispatch)" >> $OUT/ab.txt
  echo "round $r ab_dispatch ATTUNE_ARCH=sse2: $(ATTUNE_ARCH=sse2 timeout 60 /tmp/b-ab/ab_dispatch)" >> $OUT/ab.txt
done
date >> $OUT/times.txt
cat $OUT/ab.txt | tee $FINAL/summary.txt; cat $OUT/times.txt
