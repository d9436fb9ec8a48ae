#pragma once
// KV caches (issue #6): contiguous growable, streaming (sinks + ring), heavy-hitter (H2O) and
// landmark (block representatives). One cache per sequence; views feed attune::attention.
#include "attune/cache/kv_cache.hpp"
#include "attune/cache/streaming_cache.hpp"
#include "attune/cache/h2o_cache.hpp"
#include "attune/sparse/landmark.hpp"
