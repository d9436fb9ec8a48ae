#pragma once
// Key-bias sink (Gu et al., "When Attention Sink Emerges in Language Models", 2024): a learnable key k* and value
// v* per kv head, prepended to every row's keys: z_i = τ·q_i·k*, the state starts at (z_i, 1, v*).
// Per kv head (the sink is a K/V token, so with GQA the query heads of a group share it):
// k_star [kv_heads][dk], v_star [kv_heads][dv], row-major; v_star may be all zeros.
// Exactly once per row (sink.hpp: split 0 only). A row with nothing visible gives o = v* and
// LSE = z_i. LSE includes the sink term. Masks and score modifiers do not touch the sink.
// k* and v* must be finite (a NaN or inf would make every row of the head NaN): attune::error
// naming the argument at construction and when attention() validates the call.
#include <cmath>
#include <utility>
#include <vector>

#include "attune/core/error.hpp"
#include "attune/core/policy.hpp"
#include "attune/sink/sink.hpp"

namespace attune {

/// Key-bias sink: a learnable key k* and value v* per kv head that every row sees first.
struct key_bias_sink {
    using policy_kind = sink_kind;
    using hooks = provides<hook::validate>;
    static constexpr bool is_none = false;
    std::vector<float> k_star;  ///< [kv_heads][dk]
    std::vector<float> v_star;  ///< [kv_heads][dv]

    key_bias_sink() = default;  ///< empty tables (attention() rejects them)
    /// k* = `k` [kv_heads][dk] and v* = `v` [kv_heads][dv], row-major, finite (v may be all zeros).
    key_bias_sink(std::vector<float> k, std::vector<float> v) : k_star(std::move(k)), v_star(std::move(v)) { check_values(); }

    /// Starts the row at (z = τ·q·k*, 1, v*).
    template <class T>
    void start(const basic_sink_row<T>& row, T& m, T& l, T* acc) const {
        const float* k = k_star.data() + row.kv_head * row.dk;
        T z = T(0);
        for (index_t d = 0; d < row.dk; ++d) z += row.q[d * row.q_stride] * static_cast<T>(k[d]);
        m = z;
        l = T(1);
        const float* v = v_star.data() + row.kv_head * row.dv;
        for (index_t d = 0; d < row.dv; ++d) acc[d] = static_cast<T>(v[d]);
    }

    /// Throws attune::error unless k* and v* are finite, [kv_heads][dk] and [kv_heads][dv].
    template <class Shape>
    void validate(const Shape& p) const {
        check_values();
        detail::require(static_cast<index_t>(k_star.size()) == p.kv_heads * p.dk, "key_bias_sink: k_star has ", k_star.size(),
                        " elements, expected kv_heads × dk = ", p.kv_heads, " × ", p.dk);
        detail::require(static_cast<index_t>(v_star.size()) == p.kv_heads * p.dv, "key_bias_sink: v_star has ", v_star.size(),
                        " elements, expected kv_heads × dv = ", p.kv_heads, " × ", p.dv);
    }

private:
    void check_values() const {
        for (std::size_t i = 0; i < k_star.size(); ++i)
            detail::require(std::isfinite(k_star[i]), "key_bias_sink: k_star[", i, "] must be finite, got ", k_star[i]);
        for (std::size_t i = 0; i < v_star.size(); ++i)
            detail::require(std::isfinite(v_star[i]), "key_bias_sink: v_star[", i, "] must be finite, got ", v_star[i]);
    }
};

}  // namespace attune
