#pragma once
// Literal references for the probes and the calibration policies (SPEC.md §6): the probability
// matrix P of every (batch, query head) in double, materialised, then the formulas as written.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "attune/reference/softmax.hpp"

namespace calibration_test {

using attune::index_t;

// One head's P over the keys (the sink's mass is not a key's), its visibility and scores.
struct head_probs {
    index_t lq = 0, lk = 0;
    std::vector<double> p, s;
    std::vector<char> vis;
    std::vector<double> lse;   // per row, with the sink; −inf for an empty or switched-off row
    std::vector<double> gate;  // the router's gate per row
    double& P(index_t i, index_t j) { return p[static_cast<std::size_t>(i * lk + j)]; }
    double P(index_t i, index_t j) const { return p[static_cast<std::size_t>(i * lk + j)]; }
    double S(index_t i, index_t j) const { return s[static_cast<std::size_t>(i * lk + j)]; }
    bool seen(index_t i, index_t j) const { return vis[static_cast<std::size_t>(i * lk + j)] != 0; }
};

// [b·Hq + h]
template <class Var, class TQ, class TK>
std::vector<head_probs> probabilities(const attune::tensor_view<TQ>& q, const attune::tensor_view<TK>& k, const Var& var_in) {
    const auto var = attune::to_variant(var_in);
    const index_t B = q.batch(), Hq = q.heads(), Hkv = k.heads(), Lq = q.tokens(), Lk = k.tokens(), group = Hq / Hkv;
    const double scale = 1.0 / std::sqrt(static_cast<double>(q.dim()));
    const double inf = std::numeric_limits<double>::infinity();
    std::vector<head_probs> out(static_cast<std::size_t>(B * Hq));
    for (index_t b = 0; b < B; ++b)
        for (index_t h = 0; h < Hq; ++h) {
            head_probs& hp = out[static_cast<std::size_t>(b * Hq + h)];
            hp.lq = Lq, hp.lk = Lk;
            hp.p.assign(static_cast<std::size_t>(Lq * Lk), 0.0);
            hp.s.assign(static_cast<std::size_t>(Lq * Lk), -inf);
            hp.vis.assign(static_cast<std::size_t>(Lq * Lk), 0);
            hp.lse.assign(static_cast<std::size_t>(Lq), -inf);
            hp.gate.assign(static_cast<std::size_t>(Lq), 0.0);
            const Eigen::MatrixXd Q = attune::reference::to_matrix(q, b, h), K = attune::reference::to_matrix(k, b, h / group);
            const Eigen::MatrixXd Qs = scale * Q;
            const Eigen::MatrixXd S = Qs * K.transpose();
            for (index_t i = 0; i < Lq; ++i) {
                const double g = static_cast<double>(var.router().gate(attune::row_context{b, h, i, Lk - Lq + i}));
                hp.gate[static_cast<std::size_t>(i)] = g;
                if (g == 0.0) continue;
                const attune::query_row<double> qrow{Qs.data() + i, Qs.rows(), q.dim()};
                double mx = -inf;
                for (index_t j = 0; j < Lk; ++j) {
                    const attune::index_context c{b, h, h / group, Lk - Lq + i, j};
                    const std::size_t x = static_cast<std::size_t>(i * Lk + j);
                    hp.vis[x] = var.mask().visible(c) ? 1 : 0;
                    if (!hp.vis[x]) continue;
                    hp.s[x] = static_cast<double>(attune::score_hooks::call(var.score(), S(i, j), c, qrow));
                    mx = std::max(mx, hp.s[x]);
                }
                double z = -inf, l0 = 0.0;
                std::vector<double> a0(1);
                using V = std::decay_t<decltype(var)>;
                if constexpr (!attune::detail::is_none_v<typename V::sink_type>) {
                    const Eigen::VectorXd qi = Qs.row(i).transpose();
                    std::vector<double> acc(static_cast<std::size_t>(K.cols() + 1024), 0.0);
                    const attune::basic_sink_row<double> row{b, h, h / group, Lk - Lq + i, qi.data(), 1, q.dim(), q.dim()};
                    var.sink().start(row, z, l0, acc.data());
                    if (l0 > 0.0) mx = std::max(mx, z);
                }
                if (mx == -inf) continue;
                double sum = l0 > 0.0 ? l0 * std::exp(z - mx) : 0.0;
                for (index_t j = 0; j < Lk; ++j)
                    if (hp.seen(i, j)) sum += std::exp(hp.S(i, j) - mx);
                const double lse = mx + std::log(sum);
                hp.lse[static_cast<std::size_t>(i)] = lse;
                for (index_t j = 0; j < Lk; ++j)
                    if (hp.seen(i, j)) hp.P(i, j) = std::exp(hp.S(i, j) - lse);
            }
        }
    return out;
}

// o_i = gate_i · Σ_j p'_ij v_j for a modified P' of one head.
template <class TV>
void apply_values(const head_probs& hp, const std::vector<double>& pp, const attune::tensor_view<TV>& v, index_t b, index_t hk, index_t h,
                  attune::reference::result& r) {
    for (index_t i = 0; i < hp.lq; ++i)
        for (index_t d = 0; d < r.dim; ++d) {
            double o = 0.0;
            for (index_t j = 0; j < hp.lk; ++j)
                o += pp[static_cast<std::size_t>(i * hp.lk + j)] * static_cast<double>(attune::to_float(v(b, hk, j, d)));
            r.at(b, h, i, d) = hp.gate[static_cast<std::size_t>(i)] * o;
        }
}

// ACT, literally: column scores over the queries that see j, sinks j ≥ 1 with a_j > θ, then P'.
template <class TV>
attune::reference::result act(const std::vector<head_probs>& probs, const attune::tensor_view<TV>& v, index_t B, index_t Hq,
                              const std::vector<index_t>& heads, double beta, double theta, std::vector<std::vector<index_t>>* sinks_out,
                              double* max_gain = nullptr) {
    const index_t group = Hq / v.heads();
    attune::reference::result r = attune::reference::result::zeros(B, Hq, probs[0].lq, v.dim());
    if (sinks_out) sinks_out->assign(static_cast<std::size_t>(B * Hq), {});
    for (index_t b = 0; b < B; ++b)
        for (index_t h = 0; h < Hq; ++h) {
            const head_probs& hp = probs[static_cast<std::size_t>(b * Hq + h)];
            std::vector<double> pp = hp.p;
            const bool calibrated = std::find(heads.begin(), heads.end(), h) != heads.end();
            if (calibrated) {
                std::vector<char> sink(static_cast<std::size_t>(hp.lk), 0);
                for (index_t j = 1; j < hp.lk; ++j) {
                    double sum = 0.0, n = 0.0;
                    for (index_t i = 0; i < hp.lq; ++i)
                        if (hp.seen(i, j) && hp.lse[static_cast<std::size_t>(i)] > -std::numeric_limits<double>::infinity())
                            sum += hp.P(i, j), n += 1.0;
                    if (n > 0.0 && sum / n > theta) {
                        sink[static_cast<std::size_t>(j)] = 1;
                        if (sinks_out) (*sinks_out)[static_cast<std::size_t>(b * Hq + h)].push_back(j);
                    }
                }
                for (index_t i = 0; i < hp.lq; ++i) {
                    double m = 0.0;
                    for (index_t j = 0; j < hp.lk; ++j)
                        if (sink[static_cast<std::size_t>(j)]) m += hp.P(i, j);
                    if (m == 0.0 || 1.0 - m < static_cast<double>(attune::act_mass_guard)) continue;
                    const double c = (1.0 - beta * m) / (1.0 - m);
                    if (max_gain) *max_gain = std::max(*max_gain, 1.0 / (1.0 - m));
                    for (index_t j = 0; j < hp.lk; ++j)
                        pp[static_cast<std::size_t>(i * hp.lk + j)] *= sink[static_cast<std::size_t>(j)] ? beta : c;
                }
            }
            apply_values(hp, pp, v, b, h / group, h, r);
            for (index_t i = 0; i < hp.lq; ++i)
                r.lse[static_cast<std::size_t>((b * Hq + h) * hp.lq + i)] = hp.lse[static_cast<std::size_t>(i)];
        }
    return r;
}

// VAR, literally: the row rule on P, then p on the sinks and the freed mass to I ∖ S_v. With
// after_image (the authors' code, Kang et al. 2025), only rows at positions past i1 and only when
// some sink lies in [i0, i1]; otherwise every row.
template <class TV>
attune::reference::result var(const std::vector<head_probs>& probs, const attune::tensor_view<TV>& v, index_t B, index_t Hq,
                              const std::vector<index_t>& sinks, index_t i0, index_t i1, const std::vector<index_t>& heads, double p,
                              double rho, double image_mass, index_t* changed_rows, bool after_image) {
    const index_t group = Hq / v.heads();
    attune::reference::result r = attune::reference::result::zeros(B, Hq, probs[0].lq, v.dim());
    index_t changed = 0;
    for (index_t b = 0; b < B; ++b)
        for (index_t h = 0; h < Hq; ++h) {
            const head_probs& hp = probs[static_cast<std::size_t>(b * Hq + h)];
            std::vector<double> pp = hp.p;
            const bool calibrated = heads.empty() || std::find(heads.begin(), heads.end(), h) != heads.end();
            const auto is_sink = [&](index_t j) { return std::find(sinks.begin(), sinks.end(), j) != sinks.end(); };
            const auto in_image = [&](index_t j) { return j >= i0 && j <= i1; };
            const bool visual_sink = std::any_of(sinks.begin(), sinks.end(), in_image);
            for (index_t i = 0; calibrated && i < hp.lq; ++i) {
                if (after_image && (hp.lk - hp.lq + i <= i1 || !visual_sink)) continue;
                double pi = 0.0, psv = 0.0, ps = 0.0, prest = 0.0;
                for (index_t j = 0; j < hp.lk; ++j) {
                    const double x = hp.P(i, j);
                    if (in_image(j)) pi += x;
                    if (in_image(j) && is_sink(j)) psv += x;
                    if (is_sink(j)) ps += x;
                    if (in_image(j) && !is_sink(j)) prest += x;
                }
                if (!(pi >= image_mass && psv <= rho * pi && prest > 0.0 && ps > 0.0)) continue;
                ++changed;
                for (index_t j = 0; j < hp.lk; ++j) {
                    double& x = pp[static_cast<std::size_t>(i * hp.lk + j)];
                    if (is_sink(j)) x *= p;
                    else if (in_image(j)) x += (1.0 - p) * ps * x / prest;
                }
            }
            apply_values(hp, pp, v, b, h / group, h, r);
            for (index_t i = 0; i < hp.lq; ++i)
                r.lse[static_cast<std::size_t>((b * Hq + h) * hp.lq + i)] = hp.lse[static_cast<std::size_t>(i)];
        }
    if (changed_rows) *changed_rows = changed;
    return r;
}

}  // namespace calibration_test
