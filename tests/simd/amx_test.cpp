// The AMX paths (attune/simd/amx.hpp) for bf16 inputs: where this build has them and the CPU runs
// them, attention with bf16 inputs against the float64 reference and against the same call with
// AMX switched off (the fp32 micro-kernels), over odd sizes, head dims 32/64/80/128 (80: padded d),
// GQA groups 1/4/8, masks, a score modifier and a sink; float outputs (AMX scores, fp32 P·V) and
// bf16 outputs (P·V on AMX as well, P rounded to bf16). Elsewhere the test says so and checks that
// the switch alone changes nothing. The packing of weights and values for AMX P·V is checked
// element by element wherever the build has it (it needs AVX-512BW only).
#include <cmath>
#include <limits>
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
    INFO("arch " << ATTUNE_TEST_ARCH_NAME << " AMX active " << attune::simd::amx_active() << ": Hq " << Hq << " Hkv " << Hkv << " Lq " << Lq
                 << " Lk " << Lk << " D " << D << " out " << attune::storage_name<TO>());
    std::mt19937 rng(seed);
    tensor<attune::bf16> q(1, Hq, Lq, D, layout::blhd, 2), k(1, Hkv, Lk, D, layout::bhld, 3), v(1, Hkv, Lk, D);
    q.fill_random(rng);
    k.fill_random(rng);
    v.fill_random(rng);
    tensor<TO> with(1, Hq, Lq, D), without(1, Hq, Lq, D);
    with.poison();
    without.poison();
    lse_buffer lse(1, Hq, Lq);
    constexpr bool has_lse = attune::as_variant<Var>::type::family_type::has_lse;
    attune::options opt;
    if (has_lse) opt.lse = lse.view;
    attune::attention<arch>(q.cview(), k.cview(), v.cview(), with.view, var, opt, attune::serial_executor{});
    {
        amx_switch off(false);
        attune::attention<arch>(q.cview(), k.cview(), v.cview(), without.view, var, {}, attune::serial_executor{});
    }
    // bf16 output on AMX: P·V from weights rounded to bf16, each off by at most 2^-9 relative, so an
    // output element by at most 2^-9 of the weighted mean |v| ≤ 2^-9·max|v| (on top of the output's
    // own rounding, which the bf16 tolerance holds).
    double v_max = 0.0;
    for (const auto& x : v.buf) v_max = std::max(v_max, double(std::abs(attune::to_float(x))));
    const bool rounded_weights = std::is_same_v<TO, attune::bf16> && attune::simd::amx_active();
    const tolerance tol = with_rounded_weights<attune::bf16, attune::bf16, attune::bf16, TO>(output_tolerance<TO>(), v_max);
    check_against_reference(with, attune::reference::attention(q.cview(), k.cview(), v.cview(), var), tol, has_lse ? &lse : nullptr);
    // Float output: the same products summed in another order, float rounding apart, nothing more.
    // bf16 output: both rounded to bf16 (1/64 covers two roundings of |o| ≤ 4), plus the weights'.
    CHECK(max_difference(with, without) <= (std::is_same_v<TO, float> ? 5e-6 : 1.0 / 64 + (rounded_weights ? v_max / 512 : 0.0)));
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
    check<float>(8, 2, 65, 65, 128, attune::no_mask{}, seed++);  // GQA 4
    check<float>(8, 1, 33, 129, 64, attune::causal{}, seed++);   // GQA 8, chunked prefill
    check<attune::bf16>(4, 1, 100, 100, 128, attune::causal{}, seed++);
    // bf16 output: P·V on AMX too. Odd sizes, every head dim (80: a half column block), GQA 1/4/8,
    // a window, a sink and the sigmoid family.
    for (index_t D : {32, 64, 80, 128})
        for (index_t L : {1, 7, 63, 65, 129}) check<attune::bf16>(4, 4, L, L, D, attune::causal{}, seed++);
    check<attune::bf16>(8, 2, 65, 65, 128, attune::no_mask{}, seed++);
    check<attune::bf16>(8, 1, 33, 129, 64, attune::causal{}, seed++);
    check<attune::bf16>(4, 4, 129, 129, 64, attune::variant(attune::sliding_window(20, 0), attune::softcap(10.0f)), seed++);
    check<attune::bf16>(4, 2, 65, 65, 80, attune::variant(attune::causal{}, attune::sink_logit(std::vector<float>(4, 0.5f))), seed++);
    check<attune::bf16>(4, 4, 65, 65, 64, attune::variant(attune::sigmoid{-4.0f}, attune::causal{}), seed++);
    check<float>(4, 4, 129, 129, 64, attune::variant(attune::sliding_window(20, 0), attune::softcap(10.0f)), seed++);
    check<float>(4, 2, 65, 65, 80, attune::variant(attune::causal{}, attune::sink_logit(std::vector<float>(4, 0.5f))), seed++);
}

#if ATTUNE_AMX
TEST_CASE("AMX P·V packing: weights rounded to bf16 and transposed, values as key pairs", "[simd]") {
    std::mt19937 rng(7);
    std::normal_distribution<float> dist(0.0f, 3.0f);
    constexpr index_t K = attune::simd::amx::pv_max_keys;
    for (index_t rp : {16, 32, 48, 64})
        for (index_t nk : {1, 2, 17, 31, 33, 64}) {
            INFO("rows " << rp << " keys " << nk);
            std::vector<float> S(static_cast<std::size_t>(K * rp));
            for (auto& x : S) x = dist(rng);
            S[0] = std::numeric_limits<float>::quiet_NaN();
            S[static_cast<std::size_t>(rp) - 1] = -std::numeric_limits<float>::infinity();
            std::vector<attune::bf16> pb(static_cast<std::size_t>(rp * K), attune::bf16(99.0f));
            attune::simd::amx::pack_weights(S.data(), rp, nk, pb.data());
            const index_t nk32 = (nk + 31) / 32 * 32;
            int wrong = 0;
            for (index_t r = 0; r < rp; ++r)
                for (index_t n = 0; n < nk32; ++n) {
                    const float got = float(pb[static_cast<std::size_t>(r * K + n)]);
                    const float want =
                        n < nk ? float(attune::bf16(S[static_cast<std::size_t>(n * rp + r)])) : 0.0f;  // Eigen: to nearest even
                    if (!(got == want || (std::isnan(got) && std::isnan(want)))) ++wrong;
                }
            CHECK(wrong == 0);
        }
    for (index_t dv : {32, 48, 80, 128})
        for (index_t nk : {1, 2, 33, 64}) {
            INFO("dv " << dv << " keys " << nk);
            const index_t dvp = (dv + 15) / 16 * 16, stride = dv + 3;
            std::vector<attune::bf16> V(static_cast<std::size_t>(nk * stride));
            for (auto& x : V) x = attune::bf16(dist(rng));
            std::vector<std::uint32_t> vp(static_cast<std::size_t>(K / 2 * dvp), 0xdeadbeefu);
            attune::simd::amx::pack_values(V.data(), stride, nk, dv, dvp, vp.data());
            int wrong = 0;
            for (index_t n = 0; n < (nk + 31) / 32 * 32; ++n)
                for (index_t c = 0; c < dvp; ++c) {
                    const std::uint32_t word = vp[static_cast<std::size_t>((n / 2) * dvp + c)];
                    const auto bits = static_cast<std::uint16_t>(n % 2 == 0 ? word & 0xffffu : word >> 16);
                    const std::uint16_t want = n < nk && c < dv
                                                   ? Eigen::numext::bit_cast<std::uint16_t>(V[static_cast<std::size_t>(n * stride + c)])
                                                   : std::uint16_t(0);
                    if (bits != want) ++wrong;
                }
            CHECK(wrong == 0);
        }
}
#endif
