#!/usr/bin/env bash
# Run 24 on the development machine (AVX-512, no AMX): the AMX path's vector work alone, in the
# library and in amx_pipeline.cpp, with the tile instructions made no-ops. A copy of include/ in
# /tmp/incm whose amx.hpp reports AMX and defines the tile intrinsics as empty statements; the
# harness with -DNOOP. For the epilogue's before/after, run it against `git archive 6bf4ad7 include`
# (set SRC), and build epilogue_dev.cpp against both trees' include/ likewise.
#   bash bench/results/xeon-run24/noop_tiles.sh
set -eu
R=$(pwd); SRC=${SRC:-$R}
rm -rf /tmp/incm && mkdir -p /tmp/incm && cp -r "$SRC/include" /tmp/incm/
python3 - <<'PY'
p = '/tmp/incm/include/attune/simd/amx.hpp'
s = open(p).read()
s = s.replace("inline bool amx_supported() {", "inline bool amx_supported() {\n    return true;", 1)
s = s.replace("inline void configure() {\n    _tile_loadconfig(tile_config);", "inline void configure() {")
s = s.replace("    if (--session_depth() == 0) _tile_release();", "    --session_depth();")
s = s.replace("#if ATTUNE_AMX\n#include <immintrin.h>\n#endif", """#if ATTUNE_AMX
#include <immintrin.h>
#undef _tile_loadd
#undef _tile_stored
#undef _tile_zero
#undef _tile_dpbf16ps
#define _tile_loadd(t, p, s) asm volatile("" ::"r"(p), "r"(s) : "memory")
#define _tile_stored(t, p, s) asm volatile("" ::"r"(p), "r"(s) : "memory")
#define _tile_zero(t) ((void)0)
#define _tile_dpbf16ps(c, a, b) ((void)0)
#endif""")
open(p, 'w').write(s)
PY
g++ -std=c++17 -O2 -w -march=native -mamx-tile -mamx-bf16 -DNOOP -I/tmp/incm/include -isystem /usr/include/eigen3 \
  "$R/bench/results/xeon-run24/amx_pipeline.cpp" -o /tmp/amx_pipeline_noop
/tmp/amx_pipeline_noop 5 | head -4
