#pragma once
// Learned sink logit per query head (OpenAI's gpt-oss, 2025; z = 0 everywhere is Evan Miller's
// "softmax off by one", 2023):
//   p_ij = e^{s_ij} / (e^{z_h} + Σ_k e^{s_ik}); the sink has no value.
// The row starts at (m = z_h, l = 1, a = 0), exactly once per row (sink.hpp: split 0 only).
// A row with nothing visible gives zeros and LSE = z_h. LSE includes the sink term.
// logits: one per query head (extra entries unused), each finite or −inf (−inf disables the sink of
// that head); NaN or +inf is an attune::error naming logits, at construction and when attention()
// validates the call.
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "attune/core/error.hpp"
#include "attune/core/policy.hpp"
#include "attune/sink/sink.hpp"

namespace attune {

/// Learned sink logit z_h per query head: p_ij = e^{s_ij} / (e^{z_h} + Σ_k e^{s_ik}).
struct sink_logit {
    using policy_kind = sink_kind;
    using hooks = provides<hook::validate>;
    static constexpr bool is_none = false;
    std::vector<float> logits;  ///< z_h per query head

    sink_logit() = default;  ///< no logits (valid only for a call with no query heads)
    /// Logits `z`, one per query head, each finite or −inf (no sink for that head).
    explicit sink_logit(std::vector<float> z) : logits(std::move(z)) { check_values(); }

    /// Starts the row at (z_h, 1, 0).
    template <class T>
    void start(const basic_sink_row<T>& row, T& m, T& l, T*) const {
        m = static_cast<T>(logits[static_cast<std::size_t>(row.q_head)]);
        l = T(1);
    }

    /// Throws attune::error unless there is a logit per query head, none NaN or +inf.
    template <class Shape>
    void validate(const Shape& p) const {
        detail::require(static_cast<index_t>(logits.size()) >= p.q_heads, "sink_logit: ", logits.size(), " logits for ", p.q_heads,
                        " query heads (one per query head)");
        check_values();
    }

private:
    void check_values() const {
        for (std::size_t h = 0; h < logits.size(); ++h) {
            const float z = logits[h];
            detail::require(!std::isnan(z) && z != std::numeric_limits<float>::infinity(), "sink_logit: logits[", h,
                            "] must be finite or -inf, got ", z);
        }
    }
};

}  // namespace attune
