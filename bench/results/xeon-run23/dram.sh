#!/usr/bin/env bash
# q8_0 decode from DRAM (qpv.cpp at Lk 262144, Hq 4 / Hkv 1: 71 MB of K/V), one thread: this tree,
# and this tree with int8_pv's L1 prefetches left out (L2 ones kept); 4 alternations.
root=$(pwd); E=$root/.deb/root/usr/include
for t in new nol1; do
  inc=$root/include; [ $t = nol1 ] && inc=$root/.device-in/inc-nol1 (this tree with int8_pv_step's prefetch_ahead replaced by its L2 half)/include
  g++ -std=c++17 -O3 -march=native -DNDEBUG -fopenmp -I$inc -I$E/eigen3 -I$E bench/results/xeon-run23/qpv.cpp -o /tmp/qpv-$t &
done
wait
for i in 1 2 3 4; do for t in new nol1; do for r in =q8_0/iq =q8_0/iq/ipv =int8/iq/ipv; do timeout 30 /tmp/qpv-$t 262144 $r | sed "s|^|$t |"; done; done; done > /tmp/d.txt
awk '{k=$1" "$2; v[k]=v[k]" "$3} END{for(k in v)print k, v[k]}' /tmp/d.txt | sort -k2,2 -k1,1
