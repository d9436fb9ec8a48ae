#!/usr/bin/env bash
# A/B of the L2-resident decode kernels (qpv.cpp): this tree, this tree with round_weights' gathers,
# and 6b01f95's kernels; 10 alternations, each row's times listed.
# Needs .device-in/inc-old (git archive 6b01f95 include) and .device-in/inc-gather (this tree with
# round_weights' p_rows4 branch off); output: ab_output.txt.
root=$(pwd)
E=$root/.deb/root/usr/include
for t in new gather old; do
  inc=$root/include; [ $t = gather ] && inc=$root/.device-in/inc-gather/include; [ $t = old ] && inc=$root/.device-in/inc-old/include
  g++ -std=c++17 -O3 -march=native -DNDEBUG -fopenmp -I$inc -I$E/eigen3 -I$E bench/results/xeon-run23/qpv.cpp -o /tmp/qpv-$t &
done
wait
for i in $(seq 10); do for t in new gather old; do for r in =int8/iq/ipv =int8/iq =q8_0/iq/ipv =q4_0/iq/ipv =q8_0/iq; do /tmp/qpv-$t 1024 $r | sed "s|^|$t |"; done; done; done > /tmp/ab.txt
awk '{k=$1" "$2; v[k]=v[k]" "$3} END{for(k in v)print k, v[k]}' /tmp/ab.txt | sort -k2,2 -k1,1
