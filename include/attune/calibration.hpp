#pragma once
// Sink calibration and attention probes: ACT and VAR on chosen heads, probes of the probability
// matrix (column means, Sink_k^ε, row entropy, top-1) that never write it, and the retrieval-head
// probe that picks DuoAttention's retrieval heads.
#include "attune/calibration/act.hpp"
#include "attune/calibration/var.hpp"
#include "attune/mask/key_span.hpp"
#include "attune/probe/attention_probe.hpp"
#include "attune/probe/retrieval_probe.hpp"
