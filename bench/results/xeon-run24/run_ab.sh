#!/usr/bin/env bash
# Run 24, job 5 (#22): attune::attention's bf16 prefill (bf16 in and out, AMX scores and P·V) with
# the change in tried_2x2_scores_cvt_pack.diff (new) against the code before it (old: 6bf4ad7's
# include/, `git archive 6bf4ad7 include` unpacked in .device-in/amxab/inc-old), alternated with
# PyTorch, five rounds. The diff is applied to a copy of that include/ for "new".
set -u
R=$(pwd); cd bench/results/xeon-run24
E="-isystem $R/.deb/root/usr/include/eigen3 -isystem $R/.deb/root/usr/include"
F="-std=c++17 -O2 -march=native -fopenmp"
OLD=$R/.device-in/amxab/inc-old
rm -rf /tmp/new && mkdir -p /tmp/new && cp -r $OLD /tmp/new/include && (cd /tmp/new && git apply --include="include/*" $R/bench/results/xeon-run24/tried_2x2_scores_cvt_pack.diff)
g++ $F -I/tmp/new/include $E ab_prefill.cpp -o /tmp/ab_new
g++ $F -I$OLD $E ab_prefill.cpp -o /tmp/ab_old
for i in 1 2 3 4 5; do /tmp/ab_old old; /tmp/ab_new new; python3 torch_prefill.py; done
