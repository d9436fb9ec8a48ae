// Randomized differential test (random_test.cpp), variants 34–42: the routers (head_gates, token_gates,
// MoH's learned and query-norm gates, BAM's soft mixture) and DuoAttention's duo_heads mask, with
// masks, modifiers and sinks; 34 also varies the storage.
#include "random/random.hpp"

namespace attune_random {

// Routers: which rows run and their output gates.
std::string run_routers_case(rcase& c) {
    using attune::variant;
    draw d(c.params);
    const auto name = [&](const char* s) { c.policies = s; };
    switch (c.variant) {
        case 34:
            name("causal + head_gates");
            return run_stored(variant(attune::causal{}, head_gates(d, c)), c);
        case 35:
            name("sliding_window + softcap + head_gates");
            return run_float(variant(window(d, c), softcap(d), head_gates(d, c)), c);
        case 36:
            name("sigmoid + causal + token_gates");
            c.lse = false;
            return run_float(variant(sigmoid(d), attune::causal{}, token_gates(d, c)), c);
        case 37:
            name("causal + moh_gates");
            return run_float(variant(attune::causal{}, moh(d, c)), c);
        case 38: {
            name("no_mask + sink_logit + moh_query_norm_gates");
            const auto sink = sink_logit(d, c);
            const index_t shared = d.uniform(0, c.Hq), top_k = d.uniform(0, c.Hq - shared);
            return run_typed<float, float, float>(
                [&](const auto& q) { return variant(sink, attune::moh_query_norm_gates(q, shared, top_k)); }, c);
        }
        case 39:
            name("document_mask + alibi (symmetric) + soft_mixture_gates");
            return run_float(variant(documents(d, c), alibi(d, c, true), soft_mixture(d, c)), c);
        case 40:
            name("duo_heads");
            return run_float(variant(duo(d, c)), c);
        case 41:
            name("duo_heads + sink_logit + head_gates");
            return run_float(variant(duo(d, c), sink_logit(d, c), head_gates(d, c)), c);
        case 42:
            name("duo_heads + relative_bias + key_bias_sink + moh_gates");
            return run_float(variant(duo(d, c), relbias(d, c), key_bias(d, c), moh(d, c)), c);
    }
    return "unknown variant";
}

}  // namespace attune_random
