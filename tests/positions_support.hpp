#pragma once
// The `positions` suite's shared pieces (tests/mask/positioned_test.cpp, tests/score/positioned_test.cpp):
// the sizes every case runs, seeded inputs, one call of attune::attention<arch> (serial with forced
// key splits, or a thread pool with automatic splits), the position-id tables of each kind, and the
// float64 reference that applies a mask's and a score modifier's formulas to the ids directly.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "attune/core/positions.hpp"
#include "support.hpp"

#ifndef ATTUNE_TEST_ARCH
#error "ATTUNE_TEST_ARCH must name the arch type the kernels are instantiated with"
#endif

namespace positions_test {

using attune::index_t;
using namespace attune_test;
using arch = ATTUNE_TEST_ARCH;
using ids_t = std::vector<std::int32_t>;

struct shape {
    index_t B = 1, Hq = 1, Hkv = 1, Lq = 1, Lk = 1, D = 64;
    index_t splits = 1;  // 0: thread pool, automatic splits
};

inline std::string describe(const shape& s) {
    std::ostringstream os;
    os << "arch " << ATTUNE_TEST_ARCH_NAME << ": B " << s.B << " Hq " << s.Hq << " Hkv " << s.Hkv << " Lq " << s.Lq << " Lk " << s.Lk
       << " D " << s.D << " splits " << s.splits;
    return os.str();
}

// The sizes every case runs: square, chunked and decode; groups 1, 4, 8; dims 32, 64, 80, 128.
inline std::vector<shape> sizes() {
    struct lens {
        index_t lq, lk;
    };
    std::vector<shape> out;
    int i = 0;
    for (lens L : {lens{1, 1}, lens{7, 7}, lens{63, 63}, lens{65, 65}, lens{129, 129}, lens{1, 129}, lens{7, 65}, lens{65, 129}})
        for (index_t g : {1, 4, 8}) {
            shape s;
            s.B = 2;
            s.Hkv = g == 8 ? 1 : 2;
            s.Hq = s.Hkv * g;
            s.Lq = L.lq;
            s.Lk = L.lk;
            s.D = i % 4 == 3 ? 80 : index_t{32} << (i % 3);  // 32, 64, 128, 80
            s.splits = i % 5 == 4 ? 0 : 1 + i % 3;
            out.push_back(s);
            ++i;
        }
    return out;
}

struct inputs {
    tensor<float> q, k, v;
    inputs(const shape& s, std::uint32_t seed) : q(s.B, s.Hq, s.Lq, s.D), k(s.B, s.Hkv, s.Lk, s.D), v(s.B, s.Hkv, s.Lk, s.D) {
        std::mt19937 rng(seed);
        q.fill_random(rng);
        k.fill_random(rng);
        v.fill_random(rng);
    }
};

inline thread_pool& pool() {
    static thread_pool p(2);
    return p;
}

// attune::attention<arch> of `var` on `in`: splits ≥ 1 serial with that many key splits, 0 on the
// thread pool with automatic splits. `out` is poisoned first.
template <class Var>
void run(const Var& var, const shape& s, const inputs& in, tensor<float>& out, lse_buffer& lse) {
    out.poison();
    attune::options opt;
    opt.lse = lse.view;
    opt.kv_splits = s.splits;
    if (s.splits == 0) attune::attention<arch>(in.q.cview(), in.k.cview(), in.v.cview(), out.view, var, opt, make_pool_executor(pool()));
    else attune::attention<arch>(in.q.cview(), in.k.cview(), in.v.cview(), out.view, var, opt, attune::serial_executor{});
}

// The float64 reference: softmax over the keys vis(b, h, query id p, key id j) accepts of τ·q·k +
// bias(h, p, j, τq), τq the row's scaled query; query i is token Lk − Lq + i of the [B][Lk] ids.
template <class Vis, class Bias>
attune::reference::result reference(const inputs& in, const shape& s, const ids_t& ids, Vis vis, Bias bias) {
    auto r = attune::reference::result::zeros(s.B, s.Hq, s.Lq, s.D);
    const double tau = 1.0 / std::sqrt(static_cast<double>(s.D));
    std::vector<double> w(static_cast<std::size_t>(s.Lk)), tq(static_cast<std::size_t>(s.D));
    for (index_t b = 0; b < s.B; ++b)
        for (index_t h = 0; h < s.Hq; ++h)
            for (index_t i = 0; i < s.Lq; ++i) {
                const index_t hk = h / (s.Hq / s.Hkv), p = ids[static_cast<std::size_t>(b * s.Lk + s.Lk - s.Lq + i)];
                for (index_t d = 0; d < s.D; ++d) tq[static_cast<std::size_t>(d)] = tau * double{in.q.view(b, h, i, d)};
                double m = -std::numeric_limits<double>::infinity();
                for (index_t j = 0; j < s.Lk; ++j) {
                    const index_t kid = ids[static_cast<std::size_t>(b * s.Lk + j)];
                    w[static_cast<std::size_t>(j)] = -std::numeric_limits<double>::infinity();
                    if (!vis(b, h, p, kid)) continue;
                    double x = 0;
                    for (index_t d = 0; d < s.D; ++d) x += tq[static_cast<std::size_t>(d)] * double{in.k.view(b, hk, j, d)};
                    x += bias(h, p, kid, tq);
                    w[static_cast<std::size_t>(j)] = x;
                    m = std::max(m, x);
                }
                if (std::isinf(m)) continue;  // nothing visible: zeros, LSE −inf
                double l = 0;
                for (index_t j = 0; j < s.Lk; ++j) l += std::exp(w[static_cast<std::size_t>(j)] - m);
                for (index_t j = 0; j < s.Lk; ++j) {
                    const double pj = std::exp(w[static_cast<std::size_t>(j)] - m) / l;
                    if (pj == 0.0) continue;
                    for (index_t d = 0; d < s.D; ++d) r.at(b, h, i, d) += pj * double{in.v.view(b, hk, j, d)};
                }
                r.lse[static_cast<std::size_t>((b * s.Hq + h) * s.Lq + i)] = m + std::log(l);
            }
    return r;
}

// A visibility of the ids alone, rule(p, j), as reference() takes it (any batch, any head).
template <class Rule>
auto of_ids(Rule rule) {
    return [rule](index_t, index_t, index_t p, index_t j) { return rule(p, j); };
}

// The bias of a mask alone: none.
struct no_bias {
    double operator()(index_t, index_t, index_t, const std::vector<double>&) const { return 0.0; }
};

// ---- Position ids of B sequences of L tokens, [B][L].

enum class id_kind { identity, permuted, streaming, shared_prefix, random };

constexpr id_kind every_id_kind[] = {id_kind::identity, id_kind::permuted, id_kind::streaming, id_kind::shared_prefix, id_kind::random};

inline const char* name(id_kind k) {
    switch (k) {
        case id_kind::identity:
            return "identity";
        case id_kind::permuted:
            return "permuted";
        case id_kind::streaming:
            return "streaming";
        case id_kind::shared_prefix:
            return "shared prefix";
        case id_kind::random:
            return "random";
    }
    return "?";
}

inline ids_t make_ids(id_kind kind, index_t B, index_t L, std::mt19937& rng) {
    ids_t ids(static_cast<std::size_t>(B * L));
    for (index_t b = 0; b < B; ++b) {
        std::int32_t* row = ids.data() + b * L;
        for (index_t t = 0; t < L; ++t) row[t] = static_cast<std::int32_t>(t);
        switch (kind) {
            case id_kind::identity:
                break;
            case id_kind::permuted:
                std::shuffle(row, row + L, rng);
                break;
            case id_kind::streaming: {
                // StreamingLLM: 4 sinks at 0..3, a ring of the recent window whose oldest slot sits at a
                // random place (in-cache positions 4…, rotated), the new token last at the next position.
                const index_t sinks = std::min<index_t>(4, L), ring = L - sinks > 1 ? L - sinks - 1 : 0;
                const index_t head = ring > 0 ? static_cast<index_t>(rng() % static_cast<std::uint32_t>(ring)) : 0;
                for (index_t s = 0; s < ring; ++s) row[sinks + s] = static_cast<std::int32_t>(sinks + (s - head + ring) % ring);
                break;
            }
            case id_kind::shared_prefix: {
                // A context, then two candidates that both continue it: the second repeats the first's ids.
                const index_t cand = L / 3, prefix = L - 2 * cand;
                for (index_t t = prefix + cand; t < L; ++t) row[t] = static_cast<std::int32_t>(t - cand);
                break;
            }
            case id_kind::random:
                for (index_t t = 0; t < L; ++t) row[t] = static_cast<std::int32_t>(rng() % static_cast<std::uint32_t>(L + 20));
                break;
        }
    }
    return ids;
}

// 1 + the largest id: the id space a mask over these ids must cover.
inline index_t extent(const ids_t& ids) { return ids.empty() ? 0 : index_t{*std::max_element(ids.begin(), ids.end())} + 1; }

}  // namespace positions_test
