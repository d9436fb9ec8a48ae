#pragma once
// The golden cases (PyTorch's float64 outputs, ../shared/golden) as the quant tests read them:
// q, k, v as float tensors, and attention over K/V in storage formats measured against the output.
// For quant_attention_test.cpp (every format) and int8_pv_test.cpp (the integer decode products).
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "attune/quantized.hpp"
#include "npy.hpp"
#include "support.hpp"

#ifndef ATTUNE_TEST_ARCH
#error "ATTUNE_TEST_ARCH must name the arch type the kernels are instantiated with"
#endif

namespace attune_test {

using attune::index_t;

inline std::string quant_golden_dir() {
    const char* env = std::getenv("ATTUNE_GOLDEN_DIR");
    return env != nullptr && *env != '\0' ? std::string(env) : std::string(ATTUNE_GOLDEN_DEFAULT_DIR);
}

// A golden case's q, k, v (float32, [B, H, L, D]) as tensors, and PyTorch's float64 output.
struct golden_case {
    index_t B, Hq, Hkv, Lq, Lk, D;
    tensor<float> q, k, v;
    npy::array out;
    explicit golden_case(const std::string& dir)
        : golden_case(npy::load(dir + "/q.npy"), npy::load(dir + "/k.npy"), npy::load(dir + "/v.npy"), npy::load(dir + "/out.npy")) {}
    golden_case(const npy::array& qa, const npy::array& ka, const npy::array& va, npy::array oa)
        : B(static_cast<index_t>(qa.shape[0])),
          Hq(static_cast<index_t>(qa.shape[1])),
          Hkv(static_cast<index_t>(ka.shape[1])),
          Lq(static_cast<index_t>(qa.shape[2])),
          Lk(static_cast<index_t>(ka.shape[2])),
          D(static_cast<index_t>(qa.shape[3])),
          q(B, Hq, Lq, D),
          k(B, Hkv, Lk, D),
          v(B, Hkv, Lk, D),
          out(std::move(oa)) {
        fill(q, qa), fill(k, ka), fill(v, va);
    }
    static void fill(tensor<float>& t, const npy::array& a) {
        std::size_t i = 0;
        const auto& s = t.view;
        for (index_t b = 0; b < s.batch(); ++b)
            for (index_t h = 0; h < s.heads(); ++h)
                for (index_t l = 0; l < s.tokens(); ++l)
                    for (index_t d = 0; d < s.dim(); ++d) s(b, h, l, d) = static_cast<float>(a.data[i++]);
    }
    // fp8's per-kv-head scales: max |x| of the head over 448 (e4m3's largest value).
    static std::vector<float> fp8_scales(const tensor<float>& x) {
        std::vector<float> s(static_cast<std::size_t>(x.view.heads()), 0.0f);
        for (index_t b = 0; b < x.view.batch(); ++b)
            for (index_t h = 0; h < x.view.heads(); ++h)
                for (index_t l = 0; l < x.view.tokens(); ++l)
                    for (index_t d = 0; d < x.view.dim(); ++d)
                        s[static_cast<std::size_t>(h)] = std::max(s[static_cast<std::size_t>(h)], std::fabs(x.view(b, h, l, d)));
        for (float& e : s) e = e > 0.0f ? e / 448.0f : 1.0f;
        return s;
    }
    // Relative L2 and max |error| of attention over K/V in formats (fk, fv) against PyTorch's output.
    // `opt`: the call's other options (int8_query, int8_pv).
    template <class FK, class FV>
    std::pair<double, double> error(FK fk, FV fv, bool causal, float scale, attune::options opt = {}) const {
        const auto kq = attune::quant::quantize(k.cview(), fk);
        const auto vq = attune::quant::quantize(v.cview(), fv);
        tensor<float> o(B, Hq, Lq, D);
        opt.scale = scale;
        if (causal) attune::attention<ATTUNE_TEST_ARCH>(q.cview(), kq.view(), vq.view(), o.view, attune::causal{}, opt);
        else attune::attention<ATTUNE_TEST_ARCH>(q.cview(), kq.view(), vq.view(), o.view, attune::variant<>{}, opt);
        double e2 = 0.0, r2 = 0.0, emax = 0.0;
        std::size_t i = 0;
        for (index_t b = 0; b < B; ++b)
            for (index_t h = 0; h < Hq; ++h)
                for (index_t l = 0; l < Lq; ++l)
                    for (index_t d = 0; d < D; ++d) {
                        const double r = out.data[i++], e = std::fabs(o.view(b, h, l, d) - r);
                        e2 += e * e, r2 += r * r, emax = std::max(emax, e);
                    }
        return {std::sqrt(e2 / r2), emax};
    }
};

}  // namespace attune_test
