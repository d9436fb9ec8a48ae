#!/usr/bin/env bash
# Run 26: what the 16 vCPUs are, for the decode rows that are compute-bound at 16 threads (#22).
# 1. smt_probe on CPU 0 alone, then beside a copy on each other CPU (twice): a pair that shares a
#    core takes about twice as long.
# 2. qpv (run 23's L2-resident harness, this tree) with 1, 8 and 16 copies at once, one a CPU:
#    ns per key-head of each copy, L2-resident (Lk 1024) and from DRAM (Lk 262144, 71 MB of q8_0).
# Output under $OUT: machine.txt, pairs.txt, copies.txt.
set -u
root=$(pwd); E=$root/.deb/root/usr/include; R=bench/results/xeon-run26
{ lscpu; nproc; for c in 0 1 8; do echo "cpu$c siblings: $(cat /sys/devices/system/cpu/cpu$c/topology/thread_siblings_list 2>/dev/null)"; done; } > $OUT/machine.txt
g++ -O2 -march=native $R/smt_probe.cpp -o /tmp/smt &
g++ -std=c++17 -O3 -march=native -DNDEBUG -fopenmp -I$root/include -I$E/eigen3 -I$E bench/results/xeon-run23/qpv.cpp -o /tmp/qpv &
wait
{
  for round in 1 2; do
    echo "round $round solo $(taskset -c 0 /tmp/smt)"
    for k in $(seq 1 15); do
      taskset -c $k /tmp/smt > /tmp/o_$k & a=$(taskset -c 0 /tmp/smt); wait
      echo "round $round 0+$k $a | $(cat /tmp/o_$k)"
    done
  done
} > $OUT/pairs.txt
copies() {  # copies <cpus> <lk> <row>: one qpv per CPU, all at once; prints each copy's ns
  local pids=() i=0
  for c in $1; do taskset -c $c /tmp/qpv $2 "$3" > /tmp/c_$i & pids+=($!); i=$((i+1)); done
  wait "${pids[@]}"
  echo "$2 $3 [$1] $(cat /tmp/c_* | awk '{print $2}' | sort -n | tr '\n' ' ')"; rm -f /tmp/c_*
}
all=$(seq -s' ' 0 15); low=$(seq -s' ' 0 7); even=$(seq -s' ' 0 2 14)
{
  for round in 1 2 3; do
    for row in bf16 =int8/iq/ipv =q8_0/iq/ipv =q4_0/iq/ipv; do
      for set in "0" "$low" "$even" "$all"; do copies "$set" 1024 $row; done
    done
  done
  for row in bf16 =int8/iq/ipv =q8_0/iq/ipv =q4_0/iq/ipv; do
    for set in "0" "$low" "$even" "$all"; do copies "$set" 262144 $row; done
  done
} > $OUT/copies.txt 2>&1
cat $OUT/machine.txt | grep -i "model name\|mhz\|core\|socket\|siblings"; cat $OUT/pairs.txt; cat $OUT/copies.txt
