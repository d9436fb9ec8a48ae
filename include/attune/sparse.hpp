#pragma once
// Sparse attention: gather attention over index lists, top-k decode and recycled attention,
// shifted-group masks, and the KV caches (attune/cache.hpp; landmark block retrieval is one).
//
//   attune::streaming_cache<attune::bf16> sc(Hkv, D, D, /*sinks*/ 4, /*recent*/ 1024);
//   sc.step(q, k_new, v_new, out);                         // = sinks_window(4, 1024) over the history
//   attune::h2o_cache<float> hh(Hkv, D, D, /*heavy*/ 64, /*recent*/ 448);
//   hh.step(q, k_new, v_new, out);                         // attends, scores, evicts
//   attune::kv_cache<float> kv(Hkv, D, D);  kv.append(k_new, v_new);
//   attune::sparse::gather_attention(q, kv.keys(), kv.values(), attune::index_view{idx, 1, Hkv, 1, n}, out);
//   attune::sparse::recycled_attention rec(/*top_k*/ 2048);
//   rec.step(q, kv.keys(), kv.values(), out, /*full*/ step % 16 == 0);
//   attune::landmark_cache<float> lm(Hkv, D, D, /*block*/ 64);  lm.append(k_new, v_new);
//   lm.attend(q, out, /*top_k*/ 4, /*window*/ 256);
//   attune::attention(q, k, v, out, attune::shifted_groups::sinklora(L, Hq));   // a mask like any other
//
// All take an Arch template argument first (default: the compile flags' best), options (scale, LSE)
// and an executor last, like attune::attention.
#include "attune/cache.hpp"
#include "attune/mask/shifted_groups.hpp"
#include "attune/sparse/probabilities.hpp"
#include "attune/sparse/gather.hpp"
#include "attune/sparse/gather_quantized.hpp"
#include "attune/sparse/landmark.hpp"
#include "attune/sparse/topk.hpp"
