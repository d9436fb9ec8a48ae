// Flowformer against the authors' PyTorch code (Wu et al. 2022, github thuml/Flowformer,
// Flow_Attention.py: Flow_Attention and Flow_Attention_Causal, forward() steps 2–4, without the
// linear projections), translated step by step into float64 tensors of one (batch, head). Each
// einsum / cumsum / clamp is written out as the authors wrote it, independently of
// tests/linear/reference.hpp and of the kernel, so that a deviation of either from the authors shows.
#include <cstring>
#include <limits>
#include <vector>

#include "linear/helpers.hpp"

using namespace linear_test;
using arch = ATTUNE_TEST_ARCH;
namespace lin = attune::linear;
using Catch::Matchers::Contains;

namespace {

using mat = std::vector<std::vector<double>>;  // [tokens][features]

mat sigmoid_rows(const attune::tensor_view<const float>& x, index_t b, index_t h) {  // kernel_method
    mat r(static_cast<std::size_t>(x.tokens()), std::vector<double>(static_cast<std::size_t>(x.dim())));
    for (index_t t = 0; t < x.tokens(); ++t)
        for (index_t f = 0; f < x.dim(); ++f) r[std::size_t(t)][std::size_t(f)] = 1.0 / (1.0 + std::exp(-double(x(b, h, t, f))));
    return r;
}
mat plain_rows(const attune::tensor_view<const float>& x, index_t b, index_t h) {
    mat r(static_cast<std::size_t>(x.tokens()), std::vector<double>(static_cast<std::size_t>(x.dim())));
    for (index_t t = 0; t < x.tokens(); ++t)
        for (index_t f = 0; f < x.dim(); ++f) r[std::size_t(t)][std::size_t(f)] = double(x(b, h, t, f));
    return r;
}
mat cumsum(const mat& x) {  // x.cumsum(dim=2)
    mat r = x;
    for (std::size_t t = 1; t < r.size(); ++t)
        for (std::size_t f = 0; f < r[t].size(); ++f) r[t][f] += r[t - 1][f];
    return r;
}
std::vector<double> colsum(const mat& x) {  // x.sum(dim=2)
    std::vector<double> s(x.empty() ? 0 : x[0].size(), 0.0);
    for (const auto& row : x)
        for (std::size_t f = 0; f < row.size(); ++f) s[f] += row[f];
    return s;
}
mat scale_rows(const mat& x, const std::vector<double>& s) {  // x * s[:, :, :, None]
    mat r = x;
    for (std::size_t t = 0; t < r.size(); ++t)
        for (auto& e : r[t]) e *= s[t];
    return r;
}
// einsum("nhld,nhd->nhl", a + eps, b + eps)
std::vector<double> rowdot_vec(const mat& a, const std::vector<double>& b, double eps) {
    std::vector<double> r(a.size(), 0.0);
    for (std::size_t t = 0; t < a.size(); ++t)
        for (std::size_t f = 0; f < b.size(); ++f) r[t] += (a[t][f] + eps) * (b[f] + eps);
    return r;
}
// einsum("nhld,nhld->nhl", a + eps, b + eps)
std::vector<double> rowdot_rows(const mat& a, const mat& b, double eps) {
    std::vector<double> r(a.size(), 0.0);
    for (std::size_t t = 0; t < a.size(); ++t)
        for (std::size_t f = 0; f < a[t].size(); ++f) r[t] += (a[t][f] + eps) * (b[t][f] + eps);
    return r;
}
std::vector<double> reciprocal(std::vector<double> x) {
    for (auto& e : x) e = 1.0 / e;
    return x;
}
std::vector<double> clamp(std::vector<double> x, double c) {
    for (auto& e : x) e = std::min(c, std::max(-c, e));
    return x;
}
double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// Flow_Attention.forward, steps 2–4 (non-causal).
mat authors_noncausal(const mat& queries, const mat& keys, const mat& values, double eps, double c) {
    const double L = double(queries.size()), S = double(keys.size());
    const auto sink_incoming = reciprocal(rowdot_vec(queries, colsum(keys), eps));
    const auto source_outgoing = reciprocal(rowdot_vec(keys, colsum(queries), eps));
    const auto conserved_sink = rowdot_vec(queries, colsum(scale_rows(keys, source_outgoing)), eps);
    const auto conserved_source = clamp(rowdot_vec(keys, colsum(scale_rows(queries, sink_incoming)), eps), c);
    std::vector<double> sink_allocation(queries.size()), source_competition(keys.size());
    for (std::size_t i = 0; i < queries.size(); ++i) sink_allocation[i] = sigmoid(conserved_sink[i] * (L / S));
    double z = 0;
    for (double e : conserved_source) z += std::exp(e);
    for (std::size_t j = 0; j < keys.size(); ++j) source_competition[j] = std::exp(conserved_source[j]) / z * S;
    // dot_product(q * sink_incoming, k, v * source_competition) * sink_allocation
    const mat q = scale_rows(queries, sink_incoming), v = scale_rows(values, source_competition);
    const std::size_t D = keys.empty() ? 0 : keys[0].size(), M = values.empty() ? 0 : values[0].size();
    mat kv(D, std::vector<double>(M, 0.0));  // einsum("nhld,nhlm->nhdm", k, v)
    for (std::size_t j = 0; j < keys.size(); ++j)
        for (std::size_t f = 0; f < D; ++f)
            for (std::size_t e = 0; e < M; ++e) kv[f][e] += keys[j][f] * v[j][e];
    mat x(queries.size(), std::vector<double>(M, 0.0));
    for (std::size_t i = 0; i < queries.size(); ++i) {
        for (std::size_t f = 0; f < D; ++f)
            for (std::size_t e = 0; e < M; ++e) x[i][e] += q[i][f] * kv[f][e];
        for (auto& e : x[i]) e *= sink_allocation[i];
    }
    return x;
}

// Flow_Attention_Causal.forward, steps 2–4.
mat authors_causal(const mat& queries, const mat& keys, const mat& values, double eps, double c) {
    const std::size_t L = queries.size();
    auto sink_incoming = reciprocal(rowdot_rows(queries, cumsum(keys), eps));
    auto source_outgoing = reciprocal(rowdot_rows(keys, cumsum(queries), eps));
    std::vector<double> normal(L);
    for (std::size_t t = 0; t < L; ++t) normal[t] = double(t) + 1.0;
    for (std::size_t t = 0; t < L; ++t) sink_incoming[t] *= normal[t], source_outgoing[t] *= normal[t];
    auto conserved_sink = rowdot_rows(queries, cumsum(scale_rows(keys, source_outgoing)), eps);
    auto conserved_source = rowdot_rows(keys, cumsum(scale_rows(queries, sink_incoming)), eps);
    for (std::size_t t = 0; t < L; ++t) conserved_sink[t] /= normal[t], conserved_source[t] /= normal[t];
    conserved_source = clamp(conserved_source, c);
    std::vector<double> sink_allocation(L), source_competition(L);
    for (std::size_t t = 0; t < L; ++t) sink_allocation[t] = sigmoid(conserved_sink[t]);
    for (auto& e : conserved_source) e = std::exp(e);
    double run = 0;  // conserved_source.cumsum(dim=-1)
    for (std::size_t t = 0; t < L; ++t) run += conserved_source[t], source_competition[t] = conserved_source[t] / run * normal[t];
    // causal_dot_product(q * (sink_incoming / normal), k, v * source_competition) * sink_allocation
    std::vector<double> q_scale(L);
    for (std::size_t t = 0; t < L; ++t) q_scale[t] = sink_incoming[t] / normal[t];
    const mat q = scale_rows(queries, q_scale), v = scale_rows(values, source_competition);
    const std::size_t D = keys.empty() ? 0 : keys[0].size(), M = values.empty() ? 0 : values[0].size();
    mat kv(D, std::vector<double>(M, 0.0)), x(L, std::vector<double>(M, 0.0));  // kv: cumsum of k_l v_lᵀ
    for (std::size_t t = 0; t < L; ++t) {
        for (std::size_t f = 0; f < D; ++f)
            for (std::size_t e = 0; e < M; ++e) kv[f][e] += keys[t][f] * v[t][e];
        for (std::size_t f = 0; f < D; ++f)
            for (std::size_t e = 0; e < M; ++e) x[t][e] += q[t][f] * kv[f][e];
        for (auto& e : x[t]) e *= sink_allocation[t];
    }
    return x;
}

attune::reference::result authors(const tensor<float>& q, const tensor<float>& k, const tensor<float>& v, bool causal, double c) {
    const auto qv = q.cview(), kv = k.cview(), vv = v.cview();
    attune::reference::result r = linear_ref::make(qv.batch(), qv.heads(), qv.tokens(), vv.dim());
    for (index_t b = 0; b < qv.batch(); ++b)
        for (index_t h = 0; h < qv.heads(); ++h) {
            const mat Q = sigmoid_rows(qv, b, h), K = sigmoid_rows(kv, b, h), V = plain_rows(vv, b, h);
            const mat x = causal ? authors_causal(Q, K, V, 1e-6, c) : authors_noncausal(Q, K, V, 1e-6, c);
            for (index_t t = 0; t < qv.tokens(); ++t)
                for (index_t e = 0; e < vv.dim(); ++e) r.at(b, h, t, e) = x[std::size_t(t)][std::size_t(e)];
        }
    return r;
}

}  // namespace

TEST_CASE("flow: causal and non-causal equal the authors' PyTorch code, step by step in double", "[flow]") {
    for (index_t L : {1, 7, 63, 65, 129})
        for (index_t d : {32, 64, 80, 128}) {
            CAPTURE(L, d);
            const index_t dv = d == 80 ? 48 : 40;
            const auto q = random_tensor(1, 2, L, d, 31, 1.5f), k = random_tensor(1, 2, L, d, 32, 1.5f), v = random_tensor(1, 2, L, dv, 33);
            for (float c : {10.0f, 1.0f}) {  // the RL code's causal bound (the default), Flow_Attention.py's
                CAPTURE(c);
                lin::flow_options fo;
                fo.causal_clamp = c;
                fo.chunk = 16;
                auto out = poisoned(1, 2, L, dv);
                lin::flow_causal<arch>(q.cview(), k.cview(), v.cview(), out.view, fo);
                expect_close(out, authors(q, k, v, true, c), 5e-5);
                expect_close(out, linear_ref::flow(q.cview(), k.cview(), v.cview(), true, 1e-6, c), 5e-5);
            }
            const auto k2 = random_tensor(1, 2, L + 6, d, 34, 1.5f), v2 = random_tensor(1, 2, L + 6, dv, 35);
            auto out = poisoned(1, 2, L, dv);
            lin::flow_attention<arch>(q.cview(), k2.cview(), v2.cview(), out.view);
            expect_close(out, authors(q, k2, v2, false, 1.0), 5e-5);
        }
}

TEST_CASE("flow: clamp bounds that are not finite and positive are errors", "[flow][errors]") {
    const auto q = random_tensor(1, 1, 8, 16, 1), k = random_tensor(1, 1, 8, 16, 2), v = random_tensor(1, 1, 8, 16, 3);
    auto out = poisoned(1, 1, 8, 16);
    const auto before = out.buf;
    for (float bad : {0.0f, -1.0f, std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN()}) {
        lin::flow_options fo;
        fo.causal_clamp = bad;
        CHECK_THROWS_WITH(lin::flow_causal<arch>(q.cview(), k.cview(), v.cview(), out.view, fo), Contains("causal_clamp"));
        fo = {};
        fo.noncausal_clamp = bad;
        CHECK_THROWS_WITH(lin::flow_attention<arch>(q.cview(), k.cview(), v.cview(), out.view, fo), Contains("noncausal_clamp"));
    }
    CHECK(std::memcmp(out.buf.data(), before.data(), before.size() * sizeof(float)) == 0);  // nothing written
}
