#pragma once
// Key log-bias: s_ij += b_h[j], a bias per key (one row for all query heads, or one row per query
// head). With b_h[j] = ln c_j softmax gives p'_ij = c_j·p_ij / Σ_k c_k·p_ik: key j's weight scaled by
// c_j and the row renormalised. That is attention steering (Zhang et al., "Tell Your Model Where to
// Attend: Post-hoc Attention Steering for LLMs" (PASTA), 2023, eq. 2: the keys outside the
// emphasised span are scaled by a coefficient α and the row renormalised, on chosen heads), and the
// reweighting of text tokens in cross-attention (Hertz et al., Prompt-to-Prompt, 2022, applies it
// to the weights, here done on the scores so that no weight is materialised).
// Keys are indexed by their position k_pos of the call, 0 … Lk − 1: the table must have exactly one
// entry per key (a position outside it is an attune::error). Entries must be finite: a scale of 0
// (ln 0 = −inf) would hide a key, which is a mask's job (mask/), and could empty a row.
#include <cmath>
#include <utility>
#include <vector>

#include "attune/core/checked.hpp"
#include "attune/core/error.hpp"
#include "attune/core/index_context.hpp"
#include "attune/core/policy.hpp"
#include "attune/score/modifier.hpp"
#include "attune/simd/vec.hpp"

namespace attune {

/// Key log-bias: s += bias[h][j] (one row shared by every query head, or one row per query head);
/// key_log_bias::scale_keys builds ln c for scaling chosen keys' weights by c.
struct key_log_bias {
    using policy_kind = score_kind;
    using hooks = provides<hook::apply_tile, hook::validate>;
    static constexpr bool is_none = false;
    std::vector<float> bias;  ///< [rows][keys], rows 1 (every head) or one per query head
    index_t keys = 0;         ///< entries per row: the call's Lk

    key_log_bias() = default;  ///< an empty table (valid only for a call with no keys)
    /// Table `b`: rows of `k` keys, one row (every head) or one per query head; entries finite.
    key_log_bias(std::vector<float> b, index_t k) : bias(std::move(b)), keys(k) { check_table(); }

    /// Weights of `chosen` keys (of `keys`) scaled by `scale` > 0 on every query head.
    static key_log_bias scale_keys(index_t keys, const std::vector<index_t>& chosen, float scale) {
        key_log_bias kb;
        kb.keys = keys;
        kb.fill_row(0, chosen, scale);
        return kb;
    }
    /// Weights of `chosen` keys scaled by `scale` > 0 on the query heads `heads` (of `q_heads`) only.
    static key_log_bias scale_keys(index_t keys, const std::vector<index_t>& chosen, float scale, index_t q_heads,
                                   const std::vector<index_t>& heads) {
        detail::require(q_heads >= 1, "key_log_bias: q_heads must be ≥ 1, got ", q_heads);
        key_log_bias kb;
        kb.keys = keys;
        detail::require(keys >= 0, "key_log_bias: keys must be ≥ 0, got ", keys);
        detail::checked_assign(kb.bias, detail::checked_mul(q_heads, keys, "key_log_bias: q_heads × keys"), 0.0f, "key_log_bias: table");
        for (index_t h : heads) {
            detail::require(h >= 0 && h < q_heads, "key_log_bias: head ", h, " is outside [0, ", q_heads, ")");
            kb.fill_row(h, chosen, scale);
        }
        return kb;
    }

    /// Rows of the table: 1 (shared) or one per query head.
    index_t rows() const noexcept { return keys > 0 ? static_cast<index_t>(bias.size()) / keys : 0; }
    /// The biased score of one element.
    template <class T>
    T operator()(T s, const index_context& c) const {
        detail::require(c.k_pos >= 0 && c.k_pos < keys, "key_log_bias: key position ", c.k_pos, " is outside the table's [0, ", keys, ")");
        return s + static_cast<T>(row(c.q_head)[c.k_pos]);
    }

    /// The bias of a whole score tile: a shared row is one broadcast per key.
    template <class Arch>
    void apply_tile(float* S, index_t k_first, index_t nk, const score_rows& rows_, const float*) const {
        detail::require(k_first >= 0 && k_first + nk <= keys, "key_log_bias: keys [", k_first, ", ", k_first + nk,
                        ") are outside the table's [0, ", keys, ")");
        const index_t rp = rows_.rows_padded;
        if (rows() == 1) {
            constexpr index_t W = static_cast<index_t>(simd::width<Arch>);
            for (index_t n = 0; n < nk; ++n) {
                const auto b = simd::broadcast<Arch>(bias[static_cast<std::size_t>(k_first + n)]);
                for (index_t r = 0; r < rp; r += W) {
                    float* s = S + n * rp + r;
                    simd::store_aligned<Arch>(s, simd::load_aligned<Arch>(s) + b);
                }
            }
            return;
        }
        for (index_t r = 0; r < rows_.rows; ++r) {
            const float* t = row(rows_.q_head(r)) + k_first;
            for (index_t n = 0; n < nk; ++n) S[n * rp + r] += t[n];
        }
    }

    /// Throws attune::error unless the table has Lk entries per row and one row or one per query head.
    template <class Shape>
    void validate(const Shape& p) const {
        check_table();
        detail::require(keys == p.lk, "key_log_bias: the table has ", keys, " keys per row, the call ", p.lk);
        detail::require(p.lk == 0 || rows() == 1 || rows() == p.q_heads, "key_log_bias: the table has ", rows(),
                        " rows, expected 1 (every head) or one per query head (", p.q_heads, ")");
    }

private:
    const float* row(index_t h) const noexcept { return bias.data() + (rows() == 1 ? 0 : h * keys); }

    void fill_row(index_t h, const std::vector<index_t>& chosen, float scale) {
        detail::require(keys >= 0, "key_log_bias: keys must be ≥ 0, got ", keys);
        detail::require(std::isfinite(scale) && scale > 0.0f, "key_log_bias: scale must be finite and > 0 (to hide keys use a mask), got ",
                        scale);
        if (bias.empty()) detail::checked_assign(bias, keys, 0.0f, "key_log_bias: table");
        for (index_t j : chosen) {
            detail::require(j >= 0 && j < keys, "key_log_bias: key ", j, " is outside [0, ", keys, ")");
            bias[static_cast<std::size_t>(h * keys + j)] = std::log(scale);
        }
    }

    void check_table() const {
        detail::require(keys >= 0, "key_log_bias: keys must be ≥ 0, got ", keys);
        detail::require(keys == 0 ? bias.empty() : bias.size() % static_cast<std::size_t>(keys) == 0 && !bias.empty(),
                        "key_log_bias: the table has ", bias.size(), " entries, not whole rows of ", keys, " keys");
        for (std::size_t i = 0; i < bias.size(); ++i)
            detail::require(std::isfinite(bias[i]), "key_log_bias: bias[", i, "] must be finite, got ", bias[i]);
    }
};

}  // namespace attune
