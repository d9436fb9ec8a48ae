#pragma once
// KV caches: contiguous growable, streaming (sinks + ring), heavy-hitter (H2O), landmark (block
// representatives) and DuoAttention's mixed cache (whole history for retrieval heads, sinks +
// window for streaming heads). One cache per sequence; views feed attune::attention.
#include "attune/cache/kv_cache.hpp"
#include "attune/cache/streaming_cache.hpp"
#include "attune/cache/h2o_cache.hpp"
#include "attune/cache/landmark.hpp"
#include "attune/cache/duo_cache.hpp"
