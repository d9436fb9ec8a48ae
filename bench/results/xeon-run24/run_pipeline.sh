#!/usr/bin/env bash
# Run 24, jobs 1, 4, 6, 7 and 8 (#22): amx_pipeline.cpp, variants of the AMX bf16 prefill tile loop (one
# thread, causal, H 8, L 2048, D 128) beside attune::attention and PyTorch's bf16 SDPA, three
# rounds. The variant list was edited between jobs (each output names its rows); the file here is
# the last job's; the jobs ran against 6bf4ad7's include/. With .deb carried:
#   bash bench/results/xeon-run24/run_pipeline.sh
set -u
R=$(pwd); cd bench/results/xeon-run24
g++ -std=c++17 -O2 -w -march=native -I$R/include -isystem $R/.deb/root/usr/include/eigen3 -isystem $R/.deb/root/usr/include \
  amx_pipeline.cpp -o /tmp/amx_pipeline
for i in 1 2 3; do /tmp/amx_pipeline 7; python3 torch_1thread.py; done
