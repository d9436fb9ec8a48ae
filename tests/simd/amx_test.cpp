// The AMX score path (attune/simd/amx.hpp) for bf16 Q and K: where this build has it and the CPU
// runs it, attention with bf16 inputs against the float64 reference and against the same call with
// AMX switched off (the fp32 micro-kernels), over odd sizes, head dims 32/64/80/128 (80: padded d),
// GQA groups 1/4/8, masks, a score modifier and a sink; float and bf16 outputs. Elsewhere the test
// says so and checks that the switch alone changes nothing.
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "attune/simd/amx.hpp"
#include "support.hpp"

#ifndef ATTUNE_TEST_ARCH
#error "ATTUNE_TEST_ARCH must name the arch type the kernels are instantiated with"
#endif

using attune::index_t;
using namespace attune_test;
using arch = ATTUNE_TEST_ARCH;

namespace {

struct amx_switch {  // restores the setting however the test leaves
    bool before;
    explicit amx_switch(bool allowed) : before(attune::simd::set_amx_allowed(allowed)) {}
    ~amx_switch() { attune::simd::set_amx_allowed(before); }
};

template <class TO, class Var>
void check(index_t Hq, index_t Hkv, index_t Lq, index_t Lk, index_t D, const Var& var, std::uint32_t seed) {
    INFO("arch " << ATTUNE_TEST_ARCH_NAME << " AMX active " << attune::simd::amx_active() << ": Hq " << Hq << " Hkv " << Hkv << " Lq "
                 << Lq << " Lk " << Lk << " D " << D << " out " << attune::storage_name<TO>());
    std::mt19937 rng(seed);
    tensor<attune::bf16> q(1, Hq, Lq, D, layout::blhd, 2), k(1, Hkv, Lk, D, layout::bhld, 3), v(1, Hkv, Lk, D);
    q.fill_random(rng);
    k.fill_random(rng);
    v.fill_random(rng);
    tensor<TO> with(1, Hq, Lq, D), without(1, Hq, Lq, D);
    with.poison();
    without.poison();
    lse_buffer lse(1, Hq, Lq);
    attune::options opt;
    opt.lse = lse.view;
    attune::attention<arch>(q.cview(), k.cview(), v.cview(), with.view, var, opt, attune::serial_executor{});
    {
        amx_switch off(false);
        attune::attention<arch>(q.cview(), k.cview(), v.cview(), without.view, var, {}, attune::serial_executor{});
    }
    check_against_reference(with, attune::reference::attention(q.cview(), k.cview(), v.cview(), var), output_tolerance<TO>(), &lse);
    // The same products summed in another order: float rounding apart, nothing more.
    CHECK(max_difference(with, without) <= (std::is_same_v<TO, float> ? 5e-6 : 1.0 / 64));
}

}  // namespace

TEST_CASE("AMX score tiles: bf16 attention against the reference and the fp32 kernels", "[simd]") {
    if (!attune::simd::amx_active())
        WARN("AMX path not active here (compiled " << attune::simd::amx_compiled << ", CPU/OS support " << attune::simd::amx_supported()
                                                   << "): the calls below take the fp32 kernels both times");
    amx_switch on(true);
    std::uint32_t seed = 1;
    for (index_t D : {32, 64, 80, 128})
        for (index_t L : {1, 7, 63, 65, 129}) check<float>(4, 4, L, L, D, attune::causal{}, seed++);
    check<float>(8, 2, 65, 65, 128, attune::no_mask{}, seed++);                      // GQA 4
    check<float>(8, 1, 33, 129, 64, attune::causal{}, seed++);                        // GQA 8, chunked prefill
    check<attune::bf16>(4, 1, 100, 100, 128, attune::causal{}, seed++);
    check<float>(4, 4, 129, 129, 64, attune::variant(attune::sliding_window(20, 0), attune::softcap(10.0f)), seed++);
    check<float>(4, 2, 65, 65, 80, attune::variant(attune::causal{}, attune::sink_logit(std::vector<float>(4, 0.5f))), seed++);
}
