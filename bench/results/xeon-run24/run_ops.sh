#!/usr/bin/env bash
# Run 24, jobs 2 and 3 (#22; job 2 ran the file without its last eight rows): amx_ops.cpp, the cost of single AMX operations on this machine.
set -u
R=$(pwd); cd bench/results/xeon-run24
g++ -std=c++17 -O2 -march=native -I$R/include -isystem $R/.deb/root/usr/include/eigen3 -isystem $R/.deb/root/usr/include \
  amx_ops.cpp -o /tmp/amx_ops
/tmp/amx_ops
