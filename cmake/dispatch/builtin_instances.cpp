// The signatures attune_dispatch() compiles for every level by default (cmake/dispatch.cmake):
// attune's engine calls a model or a server makes, in float and bf16 — dense attention with no
// mask, causal, a sliding window, sinks + window and learned sink logits; the kv_cache and
// streaming_cache steps; paged and ragged batches. Each call below instantiates its engine driver
// for ATTUNE_DISPATCH_ARCH, which registers itself with the dispatcher (simd/dispatch.hpp); the
// function is never run. Signatures not listed here run at the arch the caller was compiled for
// (add your own through attune_dispatch(SOURCES)).
#include <attune/attune.hpp>

#ifndef ATTUNE_DISPATCH_ARCH
#error "compiled by attune_dispatch(), which defines ATTUNE_DISPATCH_ARCH for each level"
#endif

namespace {

template <class T>
[[maybe_unused]] void attune_builtin_instances(attune::tensor_view<const T> q, attune::tensor_view<T> out, attune::kv_cache<T>& cache,
                                               attune::streaming_cache<T>& ring, const attune::paged_kv<T, T>& pages,
                                               const attune::seq_offsets& offsets) {
    using A = ATTUNE_DISPATCH_ARCH;
    const attune::sink_logit z;
    attune::attention<A>(q, q, q, out);
    attune::attention<A>(q, q, q, out, attune::no_mask{});
    attune::attention<A>(q, q, q, out, attune::causal{});
    attune::attention<A>(q, q, q, out, attune::sliding_window{});
    attune::attention<A>(q, q, q, out, attune::sinks_window{});
    attune::attention<A>(q, q, q, out, attune::variant(attune::causal{}, z));
    attune::attention<A>(q, q, q, out, attune::variant(attune::sliding_window{}, z));
    cache.template step<A>(q, q, q, out);
    cache.template step<A>(q, q, q, out, attune::variant(z));
    cache.template step<A>(q, q, q, out, attune::sliding_window{});
    ring.template step<A>(q, q, q, out);
    ring.template step<A>(q, q, q, out, attune::variant(z));
    attune::paged_attention<A>(q, offsets, pages, out, attune::causal{});
    attune::paged_attention<A>(q, offsets, pages, out, attune::variant(attune::causal_window_of(1), z));
    attune::paged_attention<A>(q, offsets, pages, out, attune::variant(attune::causal{}, z));
    attune::ragged_attention<A>(q, offsets, q, q, offsets, out, attune::causal{});
}

// bf16 K/V (a bf16 cache) with float queries and output; bf16 inputs with a float output.
[[maybe_unused]] void attune_builtin_mixed(attune::tensor_view<const float> qf, attune::tensor_view<const attune::bf16> b,
                                           attune::tensor_view<float> of) {
    using A = ATTUNE_DISPATCH_ARCH;
    attune::attention<A>(qf, b, b, of);
    attune::attention<A>(qf, b, b, of, attune::no_mask{});
    attune::attention<A>(qf, b, b, of, attune::causal{});
    attune::attention<A>(b, b, b, of, attune::causal{});
}

[[maybe_unused]] void attune_builtin_all() {
    attune::kv_cache<float> cf(1, 1, 1);
    attune::streaming_cache<float> sf(1, 1, 1, 0, 1);
    attune::kv_cache<attune::bf16> cb(1, 1, 1);
    attune::streaming_cache<attune::bf16> sb(1, 1, 1, 0, 1);
    attune_builtin_instances<float>({}, {}, cf, sf, {}, {});
    attune_builtin_instances<attune::bf16>({}, {}, cb, sb, {}, {});
}

}  // namespace
