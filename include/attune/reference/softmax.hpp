#pragma once
// Naive double-precision attention for any variant: materialises the score matrix with Eigen and
// applies the variant's score modifier (in double when its operator() is a template on the scalar
// type, as the built-ins' are) and mask element by element, then the family:
//  - softmax: p_ij = e^{s_ij − LSE_i} over visible j, with the sink policy's logit z (and value v*)
//    as one more term of every row (sink/sink.hpp): LSE_i = ln(e^z + Σ_j e^{s_ij}); a row with nothing
//    visible gives v* (zeros without a sink value) and LSE z, or zeros and −inf without a sink;
//  - sigmoid: o_i = Σ_j σ(s_ij + b)·v_j over visible j; LSE is left −inf (the family has none);
//  - the router's gate multiplies each row's output; a zero gate leaves zeros and LSE −inf.
// It is the ground truth for tests and the baseline for benchmarks — written for clarity, not speed.
#include <cmath>
#include <limits>
#include <vector>

#include "attune/core/third_party.hpp"

#include "attune/core/checked.hpp"
#include "attune/core/error.hpp"
#include "attune/core/index_context.hpp"
#include "attune/core/view.hpp"
#include "attune/sink/sink.hpp"
#include "attune/variant.hpp"

namespace attune::reference {

/// [batch][heads][tokens][dim] in double, plus one LSE per row.
struct result {
    index_t batch = 0;        ///< B
    index_t heads = 0;        ///< query heads
    index_t tokens = 0;       ///< Lq
    index_t dim = 0;          ///< dv
    std::vector<double> out;  ///< the outputs, [batch][heads][tokens][dim]
    std::vector<double> lse;  ///< one LSE per row, [batch][heads][tokens]
    /// Output element (b, h, t, d).
    double& at(index_t b, index_t h, index_t t, index_t d) { return out[((b * heads + h) * tokens + t) * dim + d]; }
    /// Output element (b, h, t, d), by value.
    double at(index_t b, index_t h, index_t t, index_t d) const { return out[((b * heads + h) * tokens + t) * dim + d]; }
    /// The LSE of row (b, h, t).
    double lse_at(index_t b, index_t h, index_t t) const { return lse[(b * heads + h) * tokens + t]; }
    /// A result of the given shape to be filled piece by piece: zeros, LSE −inf. Sizes that wrap or
    /// cannot be allocated are an attune::error.
    static result zeros(index_t B, index_t H, index_t L, index_t D) {
        detail::require(B >= 0 && H >= 0 && L >= 0 && D >= 0, "reference::result: negative shape [", B, ", ", H, ", ", L, ", ", D, "]");
        result r;
        r.batch = B, r.heads = H, r.tokens = L, r.dim = D;
        detail::checked_assign(r.out, detail::checked_product("reference::result: out size", B, H, L, D), 0.0,
                               "reference::result: out size");
        detail::checked_assign(r.lse, detail::checked_product("reference::result: lse size", B, H, L),
                               -std::numeric_limits<double>::infinity(), "reference::result: lse size");
        return r;
    }
};

/// Head (b, h) of a view as a tokens × dim double matrix.
template <class T>
Eigen::MatrixXd to_matrix(const tensor_view<T>& x, index_t b, index_t h) {
    Eigen::MatrixXd m(x.tokens(), x.dim());
    for (index_t t = 0; t < x.tokens(); ++t)
        for (index_t d = 0; d < x.dim(); ++d) m(t, d) = static_cast<double>(to_float(x(b, h, t, d)));
    return m;
}

/// Σ_j p_j·v_j over the visible keys only: a NaN in a value row reaches exactly the rows that see it
/// (a product with the whole V would spread it through 0·NaN to rows that cannot).
inline Eigen::VectorXd visible_sum(const Eigen::MatrixXd& V, const Eigen::VectorXd& p, const std::vector<bool>& vis) {
    Eigen::VectorXd o = Eigen::VectorXd::Zero(V.cols());
    for (index_t j = 0; j < V.rows(); ++j)
        if (vis[static_cast<std::size_t>(j)]) o += p(j) * V.row(j).transpose();
    return o;
}

/// The shape relations attune::attention requires (the reference is public: a mismatch is an
/// attune::error naming the argument, not a division by zero or a read past a matrix).
template <class TQ, class TK, class TV>
void check_shapes(const tensor_view<TQ>& q, const tensor_view<TK>& k, const tensor_view<TV>& v, double scale) {
    using detail::require;
    require(q.data() != nullptr || q.size() == 0, "reference::attention: q has null data");
    require(k.data() != nullptr || k.size() == 0, "reference::attention: k has null data");
    require(v.data() != nullptr || v.size() == 0, "reference::attention: v has null data");
    require(k.heads() > 0 && v.heads() > 0, "reference::attention: k and v need ≥ 1 kv heads, got ", k.heads(), " and ", v.heads());
    require(q.dim() > 0, "reference::attention: q has head dim 0");
    require(k.batch() == q.batch(), "reference::attention: k batch (", k.batch(), ") differs from q batch (", q.batch(), ")");
    require(v.batch() == q.batch(), "reference::attention: v batch (", v.batch(), ") differs from q batch (", q.batch(), ")");
    require(k.dim() == q.dim(), "reference::attention: k head dim (", k.dim(), ") differs from q head dim (", q.dim(), ")");
    require(v.heads() == k.heads(), "reference::attention: v heads (", v.heads(), ") differ from k heads (", k.heads(), ")");
    require(v.tokens() == k.tokens(), "reference::attention: v tokens (", v.tokens(), ") differ from k tokens (", k.tokens(), ")");
    require(q.heads() % k.heads() == 0, "reference::attention: query heads (", q.heads(), ") are not divisible by kv heads (", k.heads(),
            ")");
    require(std::isfinite(scale) && scale >= 0.0, "reference::attention: scale must be finite and ≥ 0, got ", scale);
}

/// Attention of q, k, v under variant `var_in`, in double, materialising the score matrix; `scale`
/// is τ (0 means 1/√dk, as in attune::attention).
template <class Var = variant<>, class TQ, class TK, class TV>
result attention(const tensor_view<TQ>& q, const tensor_view<TK>& k, const tensor_view<TV>& v, const Var& var_in = {}, double scale = 0.0) {
    check_shapes(q, k, v, scale);
    const auto var = to_variant(var_in);
    using V = std::decay_t<decltype(var)>;
    using family = typename V::family_type;
    constexpr bool has_sink = !detail::is_none_v<typename V::sink_type>;
    const index_t B = q.batch(), Hq = q.heads(), Hkv = k.heads(), Lq = q.tokens(), Lk = k.tokens(), Dv = v.dim();
    const index_t group = Hq / Hkv;
    if (scale == 0.0) scale = 1.0 / std::sqrt(static_cast<double>(q.dim()));
    result r = result::zeros(B, Hq, Lq, Dv);
    for (index_t b = 0; b < B; ++b)
        for (index_t h = 0; h < Hq; ++h) {
            const index_t hk = h / group;
            const Eigen::MatrixXd Q = to_matrix(q, b, h), K = to_matrix(k, b, hk), Vm = to_matrix(v, b, hk);
            const Eigen::MatrixXd S = scale * Q * K.transpose();
            const Eigen::MatrixXd Qs = scale * Q;  // rows τ·q_i: what query-dependent modifiers and sinks see
            for (index_t i = 0; i < Lq; ++i) {
                // The router: a zero gate leaves the row at zeros and LSE −inf; others scale the output.
                const double gate = static_cast<double>(var.router().gate(row_context{b, h, i, Lk - Lq + i}));
                if (gate == 0.0) continue;
                const auto apply_gate = [&] {
                    for (index_t d = 0; d < Dv; ++d) r.at(b, h, i, d) *= gate;
                };
                const query_row<double> qrow{Qs.data() + i, Qs.rows(), q.dim()};  // column-major: step = rows
                const double inf = std::numeric_limits<double>::infinity();
                Eigen::VectorXd s(Lk);
                std::vector<bool> vis(static_cast<std::size_t>(Lk));
                double mx = -std::numeric_limits<double>::infinity();
                for (index_t j = 0; j < Lk; ++j) {
                    const index_context c{b, h, hk, Lk - Lq + i, j};
                    vis[static_cast<std::size_t>(j)] = var.mask().visible(c);
                    s(j) = static_cast<double>(score_hooks::call(var.score(), S(i, j), c, qrow));
                    // A NaN score (NaN in q or k) makes the row's max, and so the row and its LSE, NaN.
                    if (vis[static_cast<std::size_t>(j)] && (s(j) > mx || std::isnan(s(j)))) mx = std::isnan(mx) ? mx : s(j);
                }
                if constexpr (!family::row_statistics) {  // sigmoid: independent weights, plain sum (or / (Σp + ε))
                    const double bias = static_cast<double>(var.family().bias);
                    Eigen::VectorXd p = Eigen::VectorXd::Zero(Lk);
                    for (index_t j = 0; j < Lk; ++j)
                        if (vis[static_cast<std::size_t>(j)]) p(j) = 1.0 / (1.0 + std::exp(-(s(j) + bias)));
                    Eigen::VectorXd o = visible_sum(Vm, p, vis);
                    if constexpr (detail::row_sum_v<family>) o /= p.sum() + static_cast<double>(family::row_sum_eps);  // normalised
                    for (index_t d = 0; d < Dv; ++d) r.at(b, h, i, d) = o(d);
                    apply_gate();
                    continue;
                }
                // The sink: one more logit z (and value v*) in the row, outside masks and modifiers.
                double z = -inf, l0 = 0.0;
                Eigen::VectorXd a0 = Eigen::VectorXd::Zero(Dv);
                if constexpr (has_sink) {
                    const Eigen::VectorXd qi = scale * Q.row(i).transpose();
                    const basic_sink_row<double> row{b, h, hk, Lk - Lq + i, qi.data(), 1, q.dim(), Dv};
                    var.sink().start(row, z, l0, a0.data());
                    if (z > mx) mx = z;
                }
                if (mx == -inf) {  // nothing visible, no sink: zeros, LSE −inf
                    if (l0 > 0.0)
                        for (index_t d = 0; d < Dv; ++d) r.at(b, h, i, d) = a0(d) / l0;
                    apply_gate();
                    continue;
                }
                const double wz = z == -inf ? 0.0 : std::exp(z - mx);
                double sum = l0 * wz;
                Eigen::VectorXd p = Eigen::VectorXd::Zero(Lk);
                for (index_t j = 0; j < Lk; ++j)
                    if (vis[static_cast<std::size_t>(j)]) sum += (p(j) = std::exp(s(j) - mx));
                const Eigen::VectorXd o = (visible_sum(Vm, p, vis) + a0 * wz) / sum;
                for (index_t d = 0; d < Dv; ++d) r.at(b, h, i, d) = o(d);
                apply_gate();
                r.lse[static_cast<std::size_t>((b * Hq + h) * Lq + i)] = mx + std::log(sum);
            }
        }
    return r;
}

}  // namespace attune::reference
