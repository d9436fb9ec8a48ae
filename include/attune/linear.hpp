#pragma once
// The linear-attention family (SPEC.md §1 Aaren scan, §3): one include for all of it.
#include "attune/linear/feature_map.hpp"
#include "attune/linear/options.hpp"
#include "attune/linear/state.hpp"
#include "attune/linear/attention.hpp"
#include "attune/linear/inline_attention.hpp"
#include "attune/linear/flow.hpp"
#include "attune/linear/gated_delta.hpp"
#include "attune/linear/aaren.hpp"
