// attune/prepass/layer_norm.hpp and attune/prepass/qk_norm.hpp, built per SIMD arch:
// layer_norm_heads against a double-precision LayerNorm (odd head dims, weights and bias, in place,
// strided layouts, bf16 and half storage, rows with a large mean), and qk_norm_attention against the
// reference run on the normalised inputs, for several variants, GQA, decode, and only-q / only-k.
#include <cmath>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "score/check_variant.hpp"

using attune::index_t;
using namespace attune_test;
using arch = ATTUNE_TEST_ARCH;

namespace {

// Double-precision LayerNorm of x's rows, rounded into `out` (same shape).
template <class T, class U>
void layer_norm_double(const tensor<T>& x, tensor<U>& out, const attune::layer_norm& ln) {
    const auto& v = x.view;
    for (index_t b = 0; b < v.batch(); ++b)
        for (index_t h = 0; h < v.heads(); ++h)
            for (index_t t = 0; t < v.tokens(); ++t) {
                double mean = 0, var = 0;
                for (index_t d = 0; d < v.dim(); ++d) mean += attune::to_float(v(b, h, t, d));
                mean /= static_cast<double>(v.dim());
                for (index_t d = 0; d < v.dim(); ++d) {
                    const double c = attune::to_float(v(b, h, t, d)) - mean;
                    var += c * c;
                }
                var /= static_cast<double>(v.dim());
                const double rstd = 1.0 / std::sqrt(var + static_cast<double>(ln.eps));
                for (index_t d = 0; d < v.dim(); ++d) {
                    double y = (attune::to_float(v(b, h, t, d)) - mean) * rstd;
                    if (ln.weight != nullptr) y *= ln.weight[d];
                    if (ln.bias != nullptr) y += ln.bias[d];
                    out.view(b, h, t, d) = attune::from_float<U>(static_cast<float>(y));
                }
            }
}

std::vector<float> ramp(index_t n, float a, float b) {
    std::vector<float> w(static_cast<std::size_t>(n));
    for (index_t i = 0; i < n; ++i) w[static_cast<std::size_t>(i)] = a + b * std::sin(0.3f * static_cast<float>(i));
    return w;
}

}  // namespace

TEST_CASE("layer_norm_heads against a double LayerNorm", "[variants]") {
    std::mt19937 rng(1);
    for (index_t D : {1, 7, 32, 64, 80, 128, 129})
        for (bool affine : {false, true})
            for (layout lay : {layout::bhld, layout::blhd}) {
                INFO("arch " << ATTUNE_TEST_ARCH_NAME << " D " << D << " affine " << affine << " layout " << layout_name(lay));
                const auto w = ramp(D, 1.0f, 0.5f), bias = ramp(D, 0.1f, -0.3f);
                const attune::layer_norm ln{1e-6f, affine ? w.data() : nullptr, affine ? bias.data() : nullptr};
                tensor<float> x(2, 3, 9, D, lay, 2), ours(2, 3, 9, D, lay, 2), truth(2, 3, 9, D, lay, 2);
                x.fill_random(rng, 3.0f);
                for (auto& e : x.buf) e += 100.0f;  // a large mean: the centred variance keeps its digits
                ours.poison();
                attune::layer_norm_heads<arch>(x.cview(), ours.view, ln, attune::serial_executor{});
                layer_norm_double(x, truth, ln);
                CHECK(max_difference(ours, truth) <= 2e-5);
                CHECK(ours.clobbered_padding() == 0);
                // In place, on a thread pool.
                attune::layer_norm_heads<arch>(x.view, x.view, ln, make_pool_executor(variant_pool()));
                CHECK(max_difference(x, truth) <= 2e-5);
            }
}

TEST_CASE("layer_norm_heads with bf16 and half storage; errors", "[variants]") {
    std::mt19937 rng(2);
    tensor<attune::bf16> xb(1, 2, 5, 64);
    xb.fill_random(rng);
    tensor<attune::half> yh(1, 2, 5, 64), th(1, 2, 5, 64);
    attune::layer_norm_heads<arch>(xb.cview(), yh.view, attune::layer_norm{}, attune::serial_executor{});
    layer_norm_double(xb, th, attune::layer_norm{});
    CHECK(max_difference(yh, th) <= 4e-3);  // half's ulp at |y| ≤ 4

    tensor<float> x(1, 2, 5, 64), y(1, 2, 5, 32);
    x.fill_random(rng);
    REQUIRE_THROWS_WITH(attune::layer_norm_heads<arch>(x.cview(), y.view), Catch::Contains("shape"));
    REQUIRE_THROWS_WITH(attune::layer_norm_heads<arch>(x.cview(), x.view, attune::layer_norm{0.0f}), Catch::Contains("eps"));
    const attune::tensor_view<float> shifted(x.view.data() + 1, x.view.shape(), x.view.strides());
    REQUIRE_THROWS_WITH(attune::layer_norm_heads<arch>(x.cview(), shifted), Catch::Contains("overlaps"));
    const attune::tensor_view<const float> null_in(nullptr, x.view.shape(), x.view.strides());
    REQUIRE_THROWS_WITH(attune::layer_norm_heads<arch>(null_in, x.view), Catch::Contains("null"));
}

TEST_CASE("qk_norm_attention equals attention on LayerNorm'd q and k", "[variants]") {
    std::mt19937 rng(3);
    struct shape {
        index_t hq, hkv, lq, lk, d;
    };
    int i = 0;
    for (shape s :
         {shape{2, 2, 1, 1, 32}, shape{4, 1, 63, 63, 64}, shape{8, 2, 65, 129, 80}, shape{8, 1, 1, 300, 128}, shape{4, 4, 129, 129, 128}})
        for (int which = 0; which < 3; ++which, ++i) {  // 0: q and k, 1: only q, 2: only k
            INFO("arch " << ATTUNE_TEST_ARCH_NAME << " Hq " << s.hq << " Hkv " << s.hkv << " Lq " << s.lq << " Lk " << s.lk << " D " << s.d
                         << " which " << which);
            const auto w = ramp(s.d, 1.2f, 0.4f), bias = ramp(s.d, 0.0f, 0.2f);
            attune::qk_layernorm norm;
            norm.q = attune::layer_norm{1e-6f, w.data(), bias.data()};
            norm.k = attune::layer_norm{1e-5f, nullptr, nullptr};
            norm.normalise_q = which != 2;
            norm.normalise_k = which != 1;
            tensor<float> q(1, s.hq, s.lq, s.d), k(1, s.hkv, s.lk, s.d), v(1, s.hkv, s.lk, s.d), out(1, s.hq, s.lq, s.d);
            q.fill_random(rng, 2.0f);
            k.fill_random(rng, 2.0f);
            v.fill_random(rng);
            tensor<float> qn(1, s.hq, s.lq, s.d), kn(1, s.hkv, s.lk, s.d);
            if (norm.normalise_q) layer_norm_double(q, qn, norm.q);
            else qn.buf = q.buf;
            if (norm.normalise_k) layer_norm_double(k, kn, norm.k);
            else kn.buf = k.buf;
            const auto slopes = attune::alibi_slopes(s.hq);
            const auto var = attune::variant(attune::causal{}, attune::alibi{slopes});
            out.poison();
            lse_buffer lse(1, s.hq, s.lq);
            attune::options opt;
            opt.lse = lse.view;
            if (i % 2 == 0)
                attune::qk_norm_attention<arch>(q.cview(), k.cview(), v.cview(), out.view, norm, var, opt, attune::serial_executor{});
            else
                attune::qk_norm_attention<arch>(q.cview(), k.cview(), v.cview(), out.view, norm, var, opt,
                                                make_pool_executor(variant_pool()));
            check_against_reference(out, attune::reference::attention(qn.cview(), kn.cview(), v.cview(), var), fp32_tolerance(), &lse);
        }
}
