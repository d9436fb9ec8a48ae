#pragma once
// Learned sink logit per query head (gpt-oss; z = 0 everywhere is "softmax off by one"), SPEC.md §6:
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

struct sink_logit {
    using policy_kind = sink_kind;
    static constexpr bool is_none = false;
    std::vector<float> logits;  // z_h per query head

    sink_logit() = default;
    explicit sink_logit(std::vector<float> z) : logits(std::move(z)) { check_values(); }

    template <class T>
    void start(const basic_sink_row<T>& row, T& m, T& l, T*) const {
        m = static_cast<T>(logits[static_cast<std::size_t>(row.q_head)]);
        l = T(1);
    }

    template <class Shape>
    void validate(const Shape& p) const {
        detail::require(static_cast<index_t>(logits.size()) >= p.q_heads, "sink_logit: ", logits.size(),
                        " logits for ", p.q_heads, " query heads (one per query head)");
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
