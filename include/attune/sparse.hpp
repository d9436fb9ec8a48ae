#pragma once
// Sparse attention (issue #6): gather attention over index lists, top-k decode and recycled
// attention, landmark block retrieval, shifted-group masks, and the KV caches they run on.
#include "attune/cache.hpp"
#include "attune/mask/shifted_groups.hpp"
#include "attune/sparse/probabilities.hpp"
#include "attune/sparse/gather.hpp"
#include "attune/sparse/topk.hpp"
#include "attune/sparse/landmark.hpp"
