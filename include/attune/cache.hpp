#pragma once
// KV caches: contiguous growable, streaming (sinks + ring), heavy-hitter (H2O), landmark (block
// representatives) and DuoAttention's mixed cache (whole history for retrieval heads, sinks +
// window for streaming heads), each one sequence whose views feed attune::attention; and the paged
// cache of many sequences in one page pool (forks share pages, copy-on-write), whose page tables
// feed attune::paged_attention. The one-sequence caches share append / step(q, k, v, out, variant,
// options) (cache/interface.hpp).
#include "attune/cache/kv_cache.hpp"
#include "attune/cache/streaming_cache.hpp"
#include "attune/cache/h2o_cache.hpp"
#include "attune/cache/landmark.hpp"
#include "attune/cache/landmark_attention_cache.hpp"
#include "attune/cache/duo_cache.hpp"
#include "attune/cache/paged_kv_cache.hpp"
#include "attune/cache/quant_kv_cache.hpp"
