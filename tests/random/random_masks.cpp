// Randomized differential test (random_test.cpp), variants 0–33: every built-in mask, score
// modifier and sink, with the softmax and sigmoid families; 0–3 also vary the storage.
#include "random/random.hpp"

namespace attune_random {

// The compositions. 0–3 also vary the storage; the others run in float. Sigmoid has no LSE.
std::string run_masks_case(rcase& c) {
    using attune::variant;
    draw d(c.params);
    const auto name = [&](const char* s) { c.policies = s; };
    switch (c.variant) {
        case 0:
            name("causal");
            return run_stored(variant(attune::causal{}), c);
        case 1:
            name("sinks_window + sink_logit + softcap");
            return run_stored(variant(sinks_window(d, c), sink_logit(d, c), softcap(d)), c);
        case 2:
            name("sigmoid + sliding_window + softcap");
            c.lse = false;
            return run_stored(variant(sigmoid(d), window(d, c), softcap(d)), c);
        case 3:
            name("no_mask + alibi (symmetric) + key_bias_sink");
            return run_stored(variant(alibi(d, c, true), key_bias(d, c)), c);
        case 4:
            name("no_mask");
            return run_float(variant<>{}, c);
        case 5:
            name("sliding_window");
            return run_float(variant(window(d, c)), c);
        case 6:
            name("sinks_window");
            return run_float(variant(sinks_window(d, c)), c);
        case 7:
            name("document_mask");
            return run_float(variant(documents(d, c)), c);
        case 8:
            name("block_sparse<causal>");
            return run_float(variant(blocks(d, c)), c);
        case 9:
            name("prefix_sharing");
            return run_float(variant(prefix(d, c)), c);
        case 10:
            name("region_mask");
            return run_float(variant(regions(d, c)), c);
        case 11:
            name("and_mask(sliding_window, causal)");
            return run_float(variant(attune::and_mask(window(d, c), attune::causal{})), c);
        case 12:
            name("or_mask(sliding_window, prefix_keys)");
            return run_float(variant(attune::or_mask(window(d, c), attune::prefix_keys(d.uniform(0, c.Lk)))), c);
        case 13:
            name("causal + softcap");
            return run_float(variant(attune::causal{}, softcap(d)), c);
        case 14:
            name("causal + alibi");
            return run_float(variant(attune::causal{}, alibi(d, c, false)), c);
        case 15:
            name("sliding_window + relative_bias");
            return run_float(variant(window(d, c), relbias(d, c)), c);
        case 16:
            name("no_mask + relative_bias");
            return run_float(variant(relbias(d, c)), c);
        case 17:
            name("document_mask + compose(softcap, alibi)");
            return run_float(variant(documents(d, c), attune::compose(softcap(d), alibi(d, c, true))), c);
        case 18:
            name("causal + sink_logit");
            return run_float(variant(attune::causal{}, sink_logit(d, c)), c);
        case 19:
            name("no_mask + sink_logit");
            return run_float(variant(sink_logit(d, c)), c);
        case 20:
            name("causal + key_bias_sink");
            return run_float(variant(attune::causal{}, key_bias(d, c)), c);
        case 21:
            name("sliding_window + relative_bias + key_bias_sink");
            return run_float(variant(window(d, c), relbias(d, c), key_bias(d, c)), c);
        case 22:
            name("block_sparse<causal> + sink_logit");
            return run_float(variant(blocks(d, c), sink_logit(d, c)), c);
        case 23:
            name("region_mask + alibi (symmetric) + key_bias_sink");
            return run_float(variant(regions(d, c), alibi(d, c, true), key_bias(d, c)), c);
        case 24:
            name("prefix_sharing + softcap + sink_logit");
            return run_float(variant(prefix(d, c), softcap(d), sink_logit(d, c)), c);
        case 25:
            name("sigmoid + causal");
            c.lse = false;
            return run_float(variant(sigmoid(d), attune::causal{}), c);
        case 26:
            name("sigmoid + no_mask + alibi (symmetric)");
            c.lse = false;
            return run_float(variant(sigmoid(d), alibi(d, c, true)), c);
        case 27:
            name("sigmoid + document_mask + relative_bias");
            c.lse = false;
            return run_float(variant(sigmoid(d), documents(d, c), relbias(d, c)), c);
        case 28:
            name("sigmoid + block_sparse<causal>");
            c.lse = false;
            return run_float(variant(sigmoid(d), blocks(d, c)), c);
        case 29:
            name("sigmoid + sinks_window + compose(softcap, relative_bias)");
            c.lse = false;
            return run_float(variant(sigmoid(d), sinks_window(d, c), attune::compose(softcap(d), relbias(d, c))), c);
        case 30:
            name("and_mask(document_mask, sliding_window) + softcap");
            return run_float(variant(attune::and_mask(documents(d, c), window(d, c)), softcap(d)), c);
        case 31:
            name("or_mask(causal, region_mask) + sink_logit");
            return run_float(variant(attune::or_mask(attune::causal{}, regions(d, c)), sink_logit(d, c)), c);
        case 32:
            name("sliding_window + compose(relative_bias, softcap) + sink_logit");
            return run_float(variant(window(d, c), attune::compose(relbias(d, c), softcap(d)), sink_logit(d, c)), c);
        case 33:
            name("sigmoid + region_mask + softcap");
            c.lse = false;
            return run_float(variant(sigmoid(d), regions(d, c), softcap(d)), c);
    }
    return "unknown variant";
}

}  // namespace attune_random
