#pragma once
// The linear-attention family (kernelised linear attention, InLine, Flowformer, the gated delta
// rule) and the Aaren scan of softmax attention: one include for all of it.
//
//   namespace lin = attune::linear;
//   lin::causal(q, k, v, out);                          φ = elu+1, chunked (64), normalised, ε = 1e-6
//   lin::state st(B, Hkv, dk, dv);                      recurrent state: prefill, then one step per token
//   lin::prefill(q, k, v, out, st, lin::relu{}, {32});  causal from st, leaves st at the last token
//   lin::step(q1, k1, v1, out1, st, lin::relu{});       O(dk·dv) per token, whatever the history
//
//   feature maps   feature_map.hpp  elu_plus_one, relu, identity, sigmoid_map, or a struct of your own
//   kernelised     attention.hpp    attention (non-causal), causal, prefill, step; state.hpp
//   InLine         inline_attention.hpp  inline_attention, inline_local_conv (3×3 depthwise on H×W)
//   Flowformer     flow.hpp         flow_attention, flow_causal
//   gated delta    gated_delta.hpp  gated_delta_step (recurrent), gated_delta_chunked (WY form)
//   Titans memory  titans.hpp       titans_linear, titans_mlp (momentum, weight decay, chunked); titans_state.hpp
//   Aaren          aaren.hpp        aaren_update (incremental), aaren_scan (prefix scan with ⊕)
#include "attune/linear/feature_map.hpp"
#include "attune/linear/options.hpp"
#include "attune/linear/state.hpp"
#include "attune/linear/attention.hpp"
#include "attune/linear/inline_attention.hpp"
#include "attune/linear/flow.hpp"
#include "attune/linear/gated_delta.hpp"
#include "attune/linear/aaren.hpp"
#include "attune/linear/titans.hpp"
