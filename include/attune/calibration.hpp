#pragma once
// Sink calibration and attention probes (SPEC.md §6): ACT and VAR on chosen heads, and probes of
// the probability matrix (column means, Sink_k^ε, row entropy, top-1) that never write it.
#include "attune/calibration/act.hpp"
#include "attune/calibration/var.hpp"
#include "attune/mask/key_span.hpp"
#include "attune/probe/attention_probe.hpp"
