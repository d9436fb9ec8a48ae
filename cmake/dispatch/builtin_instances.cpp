// The signatures attune_dispatch() compiles for every level by default (cmake/dispatch.cmake):
// attune's engine calls a model or a server makes, in float and bf16 — dense attention with no
// mask, causal, a sliding window, sinks + window and learned sink logits; the kv_cache and
// streaming_cache steps; paged and ragged batches; quantized caches (below). Each call below instantiates its engine driver
// for ATTUNE_DISPATCH_ARCH, which registers itself with the dispatcher (simd/dispatch.hpp); the
// function is never run. Signatures not listed here run at the arch the caller was compiled for
// (add your own through attune_dispatch(SOURCES)).
#include <attune/attune.hpp>
#include <attune/cache/quant_kv_cache.hpp>

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

// Quantized K/V (attune/quantized.hpp) in the formats engines hand over — llama.cpp's q8_0 and
// q4_0, vLLM's fp8 e4m3, int8: a quant_kv_cache step (its append, then a causal step) and decode
// over quant views; and every format's quantize-on-append from float, bf16 and half rows, which
// every quantized cache calls (quant::detail::quantize_rows).
template <class F>
[[maybe_unused]] void attune_builtin_quant(attune::tensor_view<const float> q, attune::tensor_view<float> out, attune::quant_kv_cache<F>& cache,
                                           const attune::quant::quant_view<F>& kv) {
    using A = ATTUNE_DISPATCH_ARCH;
    cache.template step<A>(q, q, q, out);
    attune::attention<A>(q, kv, kv, out);
    attune::attention<A>(q, kv, kv, out, attune::causal{});
}
template <class F>
[[maybe_unused]] void attune_builtin_quantize(const F& f, std::uint8_t* row, float* tmp) {
    using A = ATTUNE_DISPATCH_ARCH;
    attune::quant::detail::quantize_rows<A>(f, 0, static_cast<const float*>(tmp), 0, row, 0, 1, 1, tmp);
    attune::quant::detail::quantize_rows<A>(f, 0, static_cast<const attune::bf16*>(nullptr), 0, row, 0, 1, 1, tmp);
    attune::quant::detail::quantize_rows<A>(f, 0, static_cast<const attune::half*>(nullptr), 0, row, 0, 1, 1, tmp);
}

[[maybe_unused]] void attune_builtin_all() {
    attune::kv_cache<float> cf(1, 1, 1);
    attune::streaming_cache<float> sf(1, 1, 1, 0, 1);
    attune::kv_cache<attune::bf16> cb(1, 1, 1);
    attune::streaming_cache<attune::bf16> sb(1, 1, 1, 0, 1);
    attune_builtin_instances<float>({}, {}, cf, sf, {}, {});
    attune_builtin_instances<attune::bf16>({}, {}, cb, sb, {}, {});
    namespace quant = attune::quant;
    quant::quantized<quant::q8_0> q8(1, 1, 1, 32);
    quant::quantized<quant::q4_0> q4(1, 1, 1, 32);
    quant::quantized<quant::fp8_e4m3> e4(1, 1, 1, 32);
    quant::quantized<quant::int8> i8(1, 1, 1, 32);
    attune::quant_kv_cache<quant::q8_0> cq8(1, 32, 32);
    attune::quant_kv_cache<quant::q4_0> cq4(1, 32, 32);
    attune::quant_kv_cache<quant::fp8_e4m3> ce4(1, 32, 32);
    attune::quant_kv_cache<quant::int8> ci8(1, 32, 32);
    attune_builtin_quant<quant::q8_0>({}, {}, cq8, q8.view());
    attune_builtin_quant<quant::q4_0>({}, {}, cq4, q4.view());
    attune_builtin_quant<quant::fp8_e4m3>({}, {}, ce4, e4.view());
    attune_builtin_quant<quant::int8>({}, {}, ci8, i8.view());
    std::uint8_t row[64];
    float tmp[32];
    attune_builtin_quantize(quant::q8_0{}, row, tmp);
    attune_builtin_quantize(quant::q4_0{}, row, tmp);
    attune_builtin_quantize(quant::int8{}, row, tmp);
    attune_builtin_quantize(quant::fp8_e4m3{}, row, tmp);
    attune_builtin_quantize(quant::fp8_e5m2{}, row, tmp);
    attune_builtin_quantize(quant::int4_group<32>{}, row, tmp);
    attune_builtin_quantize(quant::int4_group<64>{}, row, tmp);
    attune_builtin_quantize(quant::int4_group<128>{}, row, tmp);
}

}  // namespace
