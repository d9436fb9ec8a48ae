#pragma once
// ALiBi (Press et al., "Train Short, Test Long", 2022): a linear bias by distance, one slope m_h per
// query head h.
//   alibi_form::causal     s += −m_h·(p − j)     (the paper's form; under a causal mask p − j ≥ 0)
//   alibi_form::symmetric  s += −m_h·|p − j|     (the general form; use it for the sigmoid family,
//                                                which is not shift-invariant, and without a mask)
// p is the query's absolute position (bottom-right: p = Lk − Lq + i), j the key's. Under softmax
// with a causal mask the two forms give the same weights (they differ by a per-row constant).
// alibi_slopes(H): m_h = 2^{−8h/H}, h = 1..H, for H a power of two; otherwise the slopes of
// n = 2^⌊log₂H⌋ followed by every other slope of 2n (slopes 1, 3, 5, … of 2n) until there are H.
// Slopes are indexed by query head; there must be at least as many as query heads, and every slope
// must be finite (any sign: a negative slope favours distant keys); attune::error otherwise, at
// construction and again when attention() validates the call (the members are public).
// Vector path: lane r holds row r; the bias of column j is m·(j − p) (or −m·|j − p|) from the
// item's per-lane slopes and positions (positions as floats, exact below 2^24 tokens).
#include <cmath>
#include <utility>
#include <vector>

#include "attune/core/checked.hpp"
#include "attune/core/error.hpp"
#include "attune/core/index_context.hpp"
#include "attune/core/policy.hpp"
#include "attune/score/modifier.hpp"
#include "attune/simd/activations.hpp"

namespace attune {

/// ALiBi's slopes for `heads` query heads: m_h = 2^{−8h/H} for H a power of two, otherwise the
/// slopes of the power of two below H followed by every other slope of twice that.
inline std::vector<float> alibi_slopes(index_t heads) {
    detail::require(heads > 0, "alibi_slopes: heads must be > 0, got ", heads);
    auto pow2 = [](index_t n) {
        std::vector<float> s;
        detail::checked_assign(s, n, 0.0f, "alibi_slopes: heads");
        for (index_t h = 1; h <= n; ++h)
            s[static_cast<std::size_t>(h - 1)] = static_cast<float>(std::exp2(-8.0 * static_cast<double>(h) / static_cast<double>(n)));
        return s;
    };
    index_t n = 1;
    while (n <= heads / 2) n *= 2;
    std::vector<float> s = pow2(n);
    if (n == heads) return s;
    const std::vector<float> extra = pow2(detail::checked_mul(2, n, "alibi_slopes: heads"));
    for (std::size_t i = 0; static_cast<index_t>(s.size()) < heads; i += 2) s.push_back(extra[i]);
    return s;
}

/// Which distance ALiBi's bias uses.
enum class alibi_form {
    causal,    ///< s += −m_h·(p − j), the paper's form
    symmetric  ///< s += −m_h·|p − j|, for sigmoid attention and unmasked calls
};

/// ALiBi score modifier: s += −m_h·(p − j) (or −m_h·|p − j|), one slope per query head.
struct alibi {
    using policy_kind = score_kind;
    using hooks = provides<hook::prepare, hook::apply_tile, hook::validate>;
    static constexpr bool is_none = false;
    static constexpr int lane_arrays = 1;  ///< the slope of each lane's query head
    std::vector<float> slopes;             ///< one per query head
    alibi_form form = alibi_form::causal;  ///< which distance

    alibi() = default;  ///< no slopes (valid only for a call with no query heads)
    /// Slopes `s`, one per query head (alibi_slopes(H) gives the paper's), finite, and the form `f`.
    explicit alibi(std::vector<float> s, alibi_form f = alibi_form::causal) : slopes(std::move(s)), form(f) { check_slopes(); }

    /// The biased score of one element.
    template <class T>
    T operator()(T s, const index_context& c) const {
        const T m = static_cast<T>(slopes[static_cast<std::size_t>(c.q_head)]);
        const T d = static_cast<T>(c.q_pos - c.k_pos);
        return form == alibi_form::causal ? s - m * d : s - m * std::abs(d);
    }

    /// Each lane's slope, once per work item.
    void prepare(const score_rows& rows, float* lanes) const {
        for (index_t r = 0; r < rows.rows_padded; ++r) lanes[r] = r < rows.rows ? slopes[static_cast<std::size_t>(rows.q_head(r))] : 0.0f;
    }

    /// The bias of a whole score tile, lane-wise.
    template <class Arch>
    void apply_tile(float* S, index_t k_first, index_t nk, const score_rows& rows, const float* lanes) const {
        using V = simd::vec<Arch>;
        constexpr index_t W = static_cast<index_t>(simd::width<Arch>);
        const index_t rp = rows.rows_padded;
        for (index_t r = 0; r < rp; r += W) {
            const V m = simd::load_aligned<Arch>(lanes + r);
            // d = j − p for the tile's first key, then + 1 per key.
            V d = simd::broadcast<Arch>(static_cast<float>(k_first)) - simd::load_aligned<Arch>(rows.q_pos_lanes + r);
            const V one = simd::broadcast<Arch>(1.0f);
            if (form == alibi_form::causal) {
                for (index_t n = 0; n < nk; ++n, d += one) {
                    float* s = S + n * rp + r;
                    simd::store_aligned<Arch>(s, simd::fma(m, d, simd::load_aligned<Arch>(s)));  // s − m·(p − j)
                }
            } else {
                const V neg_m = simd::broadcast<Arch>(0.0f) - m;
                for (index_t n = 0; n < nk; ++n, d += one) {
                    float* s = S + n * rp + r;
                    simd::store_aligned<Arch>(s, simd::fma(neg_m, simd::abs(d), simd::load_aligned<Arch>(s)));
                }
            }
        }
    }

    /// Throws attune::error unless there is a finite slope for every query head.
    template <class Shape>
    void validate(const Shape& p) const {
        detail::require(static_cast<index_t>(slopes.size()) >= p.q_heads, "alibi: ", slopes.size(), " slopes for ", p.q_heads,
                        " query heads (one per query head; attune::alibi_slopes(H) gives them)");
        check_slopes();
    }

private:
    void check_slopes() const {
        detail::require(form == alibi_form::causal || form == alibi_form::symmetric, "alibi: form is not an alibi_form");
        for (std::size_t h = 0; h < slopes.size(); ++h)
            detail::require(std::isfinite(slopes[h]), "alibi: slopes[", h, "] must be finite, got ", slopes[h]);
    }
};

}  // namespace attune
