// Compile-fail cases (ctest compile_fail.<name>, tests/extension/tests.cmake): each policy below
// breaks the extension contract in one way, and composing it into a variant must fail to compile
// with exactly one error, the static_assert naming the hook (attune/hooks.hpp). ATTUNE_FAIL_CASE
// picks the case; tests.cmake pairs each with the text its diagnostic must hold.
#include <vector>

#include "attune/attention.hpp"
#include "attune/mask/causal.hpp"
#include "attune/mask/combine.hpp"
#include "attune/variant.hpp"

using attune::index_context;

namespace {

struct rule {  // causal, for the masks below
    using policy_kind = attune::mask_kind;
    bool visible(const index_context& c) const { return c.k_pos <= c.q_pos; }
};

#if ATTUNE_FAIL_CASE == 1  // mask_without_visible: the misspelt required hook, through attention()
struct policy {
    using policy_kind = attune::mask_kind;
    bool visibel(const index_context& c) const { return c.k_pos <= c.q_pos; }
};
#elif ATTUNE_FAIL_CASE == 2   // mask_listed_keys_misspelt
struct policy : rule {
    using hooks = attune::provides<attune::hook::keys>;
    attune::key_range key(const index_context& row) const { return {0, row.q_pos}; }
};
#elif ATTUNE_FAIL_CASE == 3   // mask_keys_not_const: not listed, but a member of the hook's name
struct policy : rule {
    attune::key_range keys(const index_context& row) { return {0, row.q_pos}; }
};
#elif ATTUNE_FAIL_CASE == 4   // mask_lists_router_hook
struct policy : rule {
    using hooks = attune::provides<attune::hook::gate>;
};
#elif ATTUNE_FAIL_CASE == 5   // mask_part_without_visible: inside and_mask, named at the part
struct part {
    using policy_kind = attune::mask_kind;
};
using policy = attune::and_mask<part, attune::causal>;
#elif ATTUNE_FAIL_CASE == 6   // score_without_operator
struct policy {
    using policy_kind = attune::score_kind;
    float modify(float s, const index_context&) const { return s; }
};
#elif ATTUNE_FAIL_CASE == 7   // score_prepare_without_lane_arrays
struct policy {
    using policy_kind = attune::score_kind;
    float operator()(float s, const index_context&) const { return s; }
    void prepare(const attune::score_rows&, float*) const {}
};
#elif ATTUNE_FAIL_CASE == 8   // score_listed_apply_tile_misspelt
struct policy {
    using policy_kind = attune::score_kind;
    using hooks = attune::provides<attune::hook::apply_tile>;
    float operator()(float s, const index_context&) const { return s; }
    template <class Arch>
    void apply_tiles(float*, attune::index_t, attune::index_t, const attune::score_rows&, const float*) const {}
};
#elif ATTUNE_FAIL_CASE == 9   // sink_float_only: the float64 reference calls start() in double
struct policy {
    using policy_kind = attune::sink_kind;
    void start(const attune::sink_row&, float& m, float& l, float*) const { m = 0.0f, l = 1.0f; }
};
#elif ATTUNE_FAIL_CASE == 10  // router_without_gate
struct policy {
    using policy_kind = attune::router_kind;
    float weight(const attune::row_context&) const { return 1.0f; }
};
#elif ATTUNE_FAIL_CASE == 11  // router_active_fraction_not_const
struct policy {
    using policy_kind = attune::router_kind;
    float gate(const attune::row_context&) const { return 1.0f; }
    double active_fraction() { return 0.5; }
};
#elif ATTUNE_FAIL_CASE == 12  // family_without_update_tile
struct policy {
    using policy_kind = attune::family_kind;
    static constexpr bool has_lse = true;
    static constexpr bool row_statistics = true;
};
#elif ATTUNE_FAIL_CASE == 13  // listed_validate_misspelt
struct policy : rule {
    using hooks = attune::provides<attune::hook::validate>;
    template <class Shape>
    void validat(const Shape&) const {}
};
#elif ATTUNE_FAIL_CASE == 14  // hooks_not_provides
struct policy : rule {
    using hooks = std::vector<attune::hook::keys>;
};
#else
#error "ATTUNE_FAIL_CASE must name a case"
#endif

}  // namespace

int main() {
    std::vector<float> x(4 * 16, 0.5f), out(4 * 16);
    const auto in = attune::view_bhld(static_cast<const float*>(x.data()), 1, 1, 4, 16);
    // The engine is instantiated with the variant: after the one static_assert, nothing else fails.
    attune::attention(in, in, in, attune::view_bhld(out.data(), 1, 1, 4, 16), attune::variant<policy>{});
    return 0;
}
