// attune/prepass/rope.hpp, built per SIMD arch: the inverse frequencies of every scaling against
// the formulas evaluated in double here, the rotation against a float64 rotation written from the
// formula (both pairings, partial rotary, odd token counts and head dims, layouts, positions as an
// offset / per-token ids / a ragged batch, bf16 and half storage, positions up to 2^31 − 1), the
// fused q/k pass, StreamingLLM's re-rotation against rotating from scratch, transformers' own
// numbers (fixtures written by make_rope_fixtures.py), and hostile inputs.
#include "attune/prepass/rope.hpp"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "npy.hpp"
#include "support.hpp"

using attune::index_t;
using attune::rope;
using attune::rope_pairing;
using attune::rope_positions;
using attune::rope_scaling;
using namespace attune_test;
using arch = ATTUNE_TEST_ARCH;

#ifndef ATTUNE_ROPE_FIXTURE_DIR
#error "ATTUNE_ROPE_FIXTURE_DIR must name tests/prepass/rope_fixtures"
#endif

namespace {

constexpr double pi = 3.14159265358979323846;

thread_pool& rope_pool() {
    static thread_pool pool(3);
    return pool;
}

// The inverse frequencies of r from the formulas, in double (transformers' definitions, without
// its float32 roundings), and the cos/sin scale.
std::vector<double> reference_inv_freq(const rope& r, index_t seq_len, double& scale) {
    const index_t d = r.rotated(), half = d / 2;
    const double dd = static_cast<double>(d);
    double theta = r.theta;
    if (r.scaling == rope_scaling::ntk) {
        const double l0 = static_cast<double>(r.original_max_position_embeddings);
        const double len = std::max(static_cast<double>(seq_len), l0);
        theta *= std::pow(r.factor * len / l0 - (r.factor - 1.0), dd / (dd - 2.0));
    }
    std::vector<double> f(static_cast<std::size_t>(half));
    for (index_t i = 0; i < half; ++i) f[static_cast<std::size_t>(i)] = std::pow(theta, -2.0 * static_cast<double>(i) / dd);
    scale = 1.0;
    if (r.scaling == rope_scaling::linear)
        for (auto& x : f) x /= r.factor;
    if (r.scaling == rope_scaling::yarn) {
        const auto ms = [](double s, double m) { return s <= 1 ? 1.0 : 0.1 * m * std::log(s) + 1.0; };
        scale = r.attention_factor != 0                    ? r.attention_factor
                : (r.mscale != 0 && r.mscale_all_dim != 0) ? ms(r.factor, r.mscale) / ms(r.factor, r.mscale_all_dim)
                                                           : ms(r.factor, 1.0);
        const double l0 = static_cast<double>(r.original_max_position_embeddings);
        // Dimension index at which a frequency turns `rot` times over the original context.
        const auto dim_of = [&](double rot) { return dd * std::log(l0 / (rot * 2 * pi)) / (2 * std::log(r.theta)); };
        double lo = std::floor(dim_of(r.beta_fast)), hi = std::ceil(dim_of(r.beta_slow));
        if (!r.truncate) lo = dim_of(r.beta_fast), hi = dim_of(r.beta_slow);
        lo = std::max(lo, 0.0), hi = std::min(hi, dd - 1);
        if (lo == hi) hi += 0.001;
        for (index_t i = 0; i < half; ++i) {
            const double ramp = std::min(1.0, std::max(0.0, (static_cast<double>(i) - lo) / (hi - lo)));
            auto& x = f[static_cast<std::size_t>(i)];
            x = x / r.factor * ramp + x * (1 - ramp);  // extrapolated below lo, interpolated above hi
        }
    }
    if (r.scaling == rope_scaling::llama3) {
        const double l0 = static_cast<double>(r.original_max_position_embeddings);
        for (auto& x : f) {
            const double wavelen = 2 * pi / x;
            if (wavelen > l0 / r.low_freq_factor) x /= r.factor;
            else if (wavelen >= l0 / r.high_freq_factor) {
                const double smooth = (l0 / wavelen - r.low_freq_factor) / (r.high_freq_factor - r.low_freq_factor);
                x = (1 - smooth) * x / r.factor + smooth * x;
            }
        }
    }
    return f;
}

// x rotated in double by angle multiplier p: pairs (i, i + d/2) or (2i, 2i + 1), frequency i.
std::vector<double> rotate_double(const rope& r, const std::vector<double>& inv, double scale, const std::vector<double>& x, double p) {
    std::vector<double> y = x;
    const index_t d = r.rotated(), half = d / 2;
    for (index_t i = 0; i < half; ++i) {
        const double a = inv[static_cast<std::size_t>(i)] * p, c = std::cos(a) * scale, s = std::sin(a) * scale;
        const index_t j = r.pairing == rope_pairing::neox ? i : 2 * i, k = r.pairing == rope_pairing::neox ? i + half : 2 * i + 1;
        const double u = x[static_cast<std::size_t>(j)], v = x[static_cast<std::size_t>(k)];
        y[static_cast<std::size_t>(j)] = u * c - v * s;
        y[static_cast<std::size_t>(k)] = v * c + u * s;
    }
    return y;
}

template <class T>
std::vector<double> row_of(const tensor<T>& t, index_t b, index_t h, index_t l) {
    std::vector<double> x(static_cast<std::size_t>(t.view.dim()));
    for (index_t d = 0; d < t.view.dim(); ++d) x[static_cast<std::size_t>(d)] = attune::to_float(t.view(b, h, l, d));
    return x;
}

// Largest |ours − reference| over the tensor, the reference rotating `in` in double by
// position(b, t) with the call's float32 inverse frequencies (rope_frequencies, checked against the
// formulas above on its own): the rotation is tested here, the frequencies there.
template <class TI, class TO, class Pos>
double error_against_double(const rope& r, const tensor<TI>& in, const tensor<TO>& ours, const Pos& position) {
    const auto table = attune::rope_frequencies(r, position.seq_len);
    const std::vector<double> inv(table.inv_freq.begin(), table.inv_freq.end());
    double err = 0;
    for (index_t b = 0; b < in.view.batch(); ++b)
        for (index_t l = 0; l < in.view.tokens(); ++l)
            for (index_t h = 0; h < in.view.heads(); ++h) {
                const auto want = rotate_double(r, inv, table.attention_scaling, row_of(in, b, h, l), static_cast<double>(position(b, l)));
                for (index_t d = 0; d < in.view.dim(); ++d) {
                    const double got = attune::to_float(ours.view(b, h, l, d)), e = std::abs(got - want[static_cast<std::size_t>(d)]);
                    err = std::max(err, std::isnan(e) ? std::numeric_limits<double>::infinity() : e);
                }
            }
    return err;
}

struct offset_pos {
    index_t offset, seq_len;
    index_t operator()(index_t, index_t t) const { return offset + t; }
};
struct table_pos {
    const std::vector<std::int32_t>* ids;
    index_t stride, seq_len;
    index_t operator()(index_t b, index_t t) const { return (*ids)[static_cast<std::size_t>(b * stride + t)]; }
};

rope make_rope(index_t D, index_t rot, rope_pairing pairing, rope_scaling scaling) {
    rope r;
    r.head_dim = D;
    r.rotary_dim = rot;
    r.pairing = pairing;
    r.scaling = scaling;
    switch (scaling) {
        case rope_scaling::none:
            break;
        case rope_scaling::linear:
            r.factor = 4;
            break;
        case rope_scaling::ntk:
            r.factor = 2, r.original_max_position_embeddings = 64;
            break;
        case rope_scaling::yarn:
            r.factor = 8, r.original_max_position_embeddings = 4096, r.theta = 1e6;
            break;
        case rope_scaling::llama3:
            r.factor = 8, r.original_max_position_embeddings = 8192, r.theta = 500000;
            break;
    }
    return r;
}

const char* scaling_name(rope_scaling s) {
    const char* names[] = {"none", "linear", "ntk", "yarn", "llama3"};
    return names[static_cast<int>(s)];
}

constexpr rope_scaling all_scalings[] = {rope_scaling::none, rope_scaling::linear, rope_scaling::ntk, rope_scaling::yarn,
                                         rope_scaling::llama3};

}  // namespace

TEST_CASE("rope_frequencies against the formulas in double", "[rope]") {
    for (rope_scaling sc : all_scalings)
        for (index_t D : {32, 64, 80, 128})
            for (index_t rot : {index_t(0), D / 2})
                for (index_t seq_len : {1, 64, 100000}) {
                    INFO("scaling " << scaling_name(sc) << " D " << D << " rotary " << rot << " seq_len " << seq_len);
                    const rope r = make_rope(D, rot, rope_pairing::neox, sc);
                    const auto t = attune::rope_frequencies(r, seq_len);
                    double scale = 0;
                    const auto want = reference_inv_freq(r, seq_len, scale);
                    REQUIRE(t.inv_freq.size() == want.size());
                    CHECK(t.attention_scaling == Approx(scale).epsilon(1e-12));
                    double worst = 0;
                    for (std::size_t i = 0; i < want.size(); ++i) worst = std::max(worst, std::abs(t.inv_freq[i] / want[i] - 1));
                    // float32 values of transformers' float32 pipeline: a few float ulps (ntk past L₀: its base is float32).
                    CHECK(worst <= (sc == rope_scaling::ntk && seq_len > 64 ? 2e-6 : 1e-6));
                }
    // The yarn variants: an explicit attention factor, DeepSeek's mscale ratio, no truncation.
    rope y = make_rope(64, 0, rope_pairing::neox, rope_scaling::yarn);
    for (int variant = 0; variant < 3; ++variant) {
        rope r = y;
        if (variant == 0) r.attention_factor = 1.25;
        if (variant == 1) r.mscale = 1.0, r.mscale_all_dim = 0.707, r.factor = 40;
        if (variant == 2) r.truncate = false, r.beta_fast = 16, r.beta_slow = 2;
        double scale = 0;
        const auto want = reference_inv_freq(r, 1, scale);
        const auto t = attune::rope_frequencies(r, 1);
        CHECK(t.attention_scaling == Approx(scale).epsilon(1e-12));
        for (std::size_t i = 0; i < want.size(); ++i) CHECK(t.inv_freq[i] == Approx(want[i]).epsilon(5e-7));
    }
}

TEST_CASE("apply_rope against a float64 rotation", "[rope]") {
    std::mt19937 rng(1);
    for (rope_pairing pairing : {rope_pairing::neox, rope_pairing::gptj})
        for (rope_scaling sc : all_scalings)
            for (index_t D : {32, 64, 80, 128})
                for (index_t rot : {index_t(0), index_t(16), D / 2 + (D / 2) % 2})
                    for (index_t L : {1, 7, 65}) {
                        const layout lay = L % 2 == 1 && D == 80 ? layout::blhd : layout::bhld;
                        INFO("pairing " << (pairing == rope_pairing::neox ? "neox" : "gptj") << " scaling " << scaling_name(sc) << " D "
                                        << D << " rotary " << rot << " L " << L << " layout " << layout_name(lay));
                        const rope r = make_rope(D, rot, pairing, sc);
                        tensor<float> x(2, 3, L, D, lay, 2, 1), out(2, 3, L, D, lay, 2, 1);
                        x.fill_random(rng);
                        out.poison();
                        const index_t offset = 37;
                        attune::apply_rope<arch>(r, x.cview(), out.view, rope_positions::from_offset(offset), attune::serial_executor{});
                        CHECK(error_against_double(r, x, out, offset_pos{offset, offset + L}) <= 4e-6);
                        CHECK(out.clobbered_padding() == 0);
                        // In place on a pool: the same values, bitwise.
                        tensor<float> y = x;
                        y.view =
                            attune::tensor_view<float>(y.buf.data() + (x.view.data() - x.buf.data()), x.view.shape(), x.view.strides());
                        attune::apply_rope<arch>(r, y.view, rope_positions::from_offset(offset), make_pool_executor(rope_pool()));
                        CHECK(max_difference(y, out) == 0);
                    }
}

TEST_CASE("apply_rope with per-token, shared and ragged positions", "[rope]") {
    std::mt19937 rng(2);
    for (rope_pairing pairing : {rope_pairing::neox, rope_pairing::gptj})
        for (index_t L : {1, 7, 63, 129}) {
            INFO("L " << L << " pairing " << static_cast<int>(pairing));
            rope r = make_rope(64, 0, pairing, rope_scaling::ntk);  // ntk: the length is the call's max position + 1
            const index_t B = 3, stride = L + 5;
            std::vector<std::int32_t> ids(static_cast<std::size_t>(B * stride), -1);  // -1 past each row: never read
            std::uniform_int_distribution<std::int32_t> pos(0, 5000);
            index_t max_id = 0;
            for (index_t b = 0; b < B; ++b)
                for (index_t t = 0; t < L; ++t)
                    max_id = std::max<index_t>(max_id, ids[static_cast<std::size_t>(b * stride + t)] = pos(rng));
            tensor<float> x(B, 4, L, 64), out(B, 4, L, 64);
            x.fill_random(rng);
            attune::apply_rope<arch>(r, x.cview(), out.view, rope_positions::per_token(ids.data(), stride));
            CHECK(error_against_double(r, x, out, table_pos{&ids, stride, max_id + 1}) <= 1e-5);
            // One id list shared by every batch row (stride 0).
            attune::apply_rope<arch>(r, x.cview(), out.view, rope_positions::per_token(ids.data(), 0));
            index_t max0 = 0;
            for (index_t t = 0; t < L; ++t) max0 = std::max<index_t>(max0, ids[static_cast<std::size_t>(t)]);
            CHECK(error_against_double(r, x, out, table_pos{&ids, 0, max0 + 1}) <= 1e-5);
        }
    // A packed ragged batch: sequences of 3, 0, 5 and 1 rows continuing from their cached lengths.
    const std::vector<std::int32_t> at{0, 3, 3, 8, 9}, starts{10, 4, 0, 70000};
    std::vector<std::int32_t> expanded;
    for (std::size_t s = 0; s + 1 < at.size(); ++s)
        for (std::int32_t t = at[s]; t < at[s + 1]; ++t) expanded.push_back(starts[s] + t - at[s]);
    rope r = make_rope(80, 48, rope_pairing::neox, rope_scaling::yarn);
    tensor<attune::bf16> x(1, 2, 9, 80, layout::blhd), a(1, 2, 9, 80, layout::blhd), b(1, 2, 9, 80, layout::blhd);
    x.fill_random(rng);
    attune::apply_rope<arch>(r, x.cview(), a.view, rope_positions::ragged({at.data(), 4}, starts.data()));
    attune::apply_rope<arch>(r, x.cview(), b.view, rope_positions::per_token(expanded.data()));
    CHECK(max_difference(a, b) == 0);
    CHECK(error_against_double(r, x, a, table_pos{&expanded, 0, 70001}) <= 4.0 / 256);
}

TEST_CASE("apply_rope at large positions, bf16 and half storage", "[rope]") {
    std::mt19937 rng(3);
    for (std::int32_t p0 : {(1 << 20) - 3, (1 << 24) + 1, std::numeric_limits<std::int32_t>::max() - 7}) {
        INFO("offset " << p0);
        rope r = make_rope(128, 0, rope_pairing::neox, rope_scaling::llama3);
        tensor<float> x(1, 2, 8, 128), out(1, 2, 8, 128);
        x.fill_random(rng);
        attune::apply_rope<arch>(r, x.cview(), out.view, rope_positions::from_offset(p0));
        // Exact angles: float rounding of the result only, at any position.
        CHECK(error_against_double(r, x, out, offset_pos{p0, index_t{p0} + 8}) <= 4e-6);
        // float32 angles (transformers'): off by up to position · inv_freq · 2^−24 rad.
        r.angles = attune::rope_angles::float32;
        attune::apply_rope<arch>(r, x.cview(), out.view, rope_positions::from_offset(p0));
        const double err = error_against_double(r, x, out, offset_pos{p0, index_t{p0} + 8});
        CHECK(err <= 8.0 * (static_cast<double>(p0) + 8) * std::ldexp(1.0, -24));
        if (p0 > (1 << 24)) CHECK(err > 1e-4);  // the rounding the exact mode avoids is visible
    }
    for (index_t D : {64, 80}) {
        const rope r = make_rope(D, 0, rope_pairing::gptj, rope_scaling::linear);
        tensor<attune::bf16> xb(2, 2, 7, D), ob(2, 2, 7, D);
        tensor<attune::half> xh(2, 2, 7, D), oh(2, 2, 7, D);
        xb.fill_random(rng), xh.fill_random(rng);
        attune::apply_rope<arch>(r, xb.cview(), ob.view, rope_positions::from_offset(1000));
        attune::apply_rope<arch>(r, xh.cview(), oh.view, rope_positions::from_offset(1000));
        // One rounding to storage (|y| ≲ 4: bf16 2^−7, half 2^−9 relative) on the float result.
        CHECK(error_against_double(r, xb, ob, offset_pos{1000, 1007}) <= 4.0 / 128);
        CHECK(error_against_double(r, xh, oh, offset_pos{1000, 1007}) <= 4.0 / 1024);
        // Mixed storage out of place: bf16 in, float out (no storage rounding).
        tensor<float> of(2, 2, 7, D);
        attune::apply_rope<arch>(r, xb.cview(), of.view, rope_positions::from_offset(1000));
        CHECK(error_against_double(r, xb, of, offset_pos{1000, 1007}) <= 1e-5);
    }
}

TEST_CASE("apply_rope_qk rotates q and k as two apply_rope calls", "[rope]") {
    std::mt19937 rng(4);
    for (index_t group : {1, 4, 8}) {
        const rope r = make_rope(64, 32, rope_pairing::neox, rope_scaling::yarn);
        tensor<float> q(2, 2 * group, 9, 64), k(2, 2, 9, 64, layout::blhd);
        q.fill_random(rng), k.fill_random(rng);
        tensor<float> q2 = q, k2 = k;
        q2.view = attune::tensor_view<float>(q2.buf.data(), q.view.shape(), q.view.strides());
        k2.view = attune::tensor_view<float>(k2.buf.data(), k.view.shape(), k.view.strides());
        attune::apply_rope_qk<arch>(r, q.view, k.view, rope_positions::from_offset(3));
        attune::apply_rope<arch>(r, q2.view, rope_positions::from_offset(3));
        attune::apply_rope<arch>(r, k2.view, rope_positions::from_offset(3));
        CHECK(max_difference(q, q2) == 0);
        CHECK(max_difference(k, k2) == 0);
    }
}

TEST_CASE("StreamingLLM: re-rotated keys equal keys rotated from scratch", "[rope]") {
    std::mt19937 rng(5);
    for (rope_scaling sc : {rope_scaling::none, rope_scaling::linear, rope_scaling::yarn, rope_scaling::llama3})
        for (rope_pairing pairing : {rope_pairing::neox, rope_pairing::gptj}) {
            INFO("scaling " << scaling_name(sc));
            const rope r = make_rope(64, 48, pairing, sc);
            const index_t B = 2, L = 65;
            tensor<float> pre(B, 2, L, 64);
            pre.fill_random(rng);
            // Text positions with a gap (evicted middle): keys were rotated at them...
            std::vector<std::int32_t> text(static_cast<std::size_t>(B * L));
            for (index_t b = 0; b < B; ++b)
                for (index_t t = 0; t < L; ++t)
                    text[static_cast<std::size_t>(b * L + t)] = static_cast<std::int32_t>(t < 4 ? t : t + 1000 + 7 * b);
            tensor<float> keys(B, 2, L, 64), scratch(B, 2, L, 64);
            attune::apply_rope<arch>(r, pre.cview(), keys.view, rope_positions::per_token(text.data(), L));
            // ...and move to their cache slots 0..L−1 (deltas down to −1014).
            attune::rerotate_keys<arch>(r, keys.view, rope_positions::per_token(text.data(), L), rope_positions::from_offset(0));
            attune::rotate_keys_to_cache<arch>(r, pre.cview(), scratch.view, rope_positions::from_offset(0));
            CHECK(max_difference(keys, scratch) <= 3e-6 * 4);
            CHECK(error_against_double(r, pre, scratch, offset_pos{0, L}) <= 2e-6 * 4);
            // And back up: the round trip returns the keys rotated at their text positions.
            tensor<float> direct(B, 2, L, 64);
            attune::apply_rope<arch>(r, pre.cview(), direct.view, rope_positions::per_token(text.data(), L));
            attune::rerotate_keys<arch>(r, keys.view, rope_positions::from_offset(0), rope_positions::per_token(text.data(), L));
            CHECK(max_difference(keys, direct) <= 6e-6 * 4);
        }
}

namespace {

struct fixture_case {
    std::string name;
    rope r;
};

std::vector<fixture_case> read_cases(const std::string& dir) {
    std::ifstream f(dir + "/cases.txt");
    std::vector<fixture_case> cases;
    std::string line;
    while (std::getline(f, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream is(line);
        fixture_case c;
        std::string pairing, scaling;
        is >> c.name >> c.r.head_dim >> c.r.rotary_dim >> c.r.theta >> pairing >> scaling >> c.r.factor >>
            c.r.original_max_position_embeddings >> c.r.beta_fast >> c.r.beta_slow >> c.r.attention_factor >> c.r.mscale >>
            c.r.mscale_all_dim >> c.r.low_freq_factor >> c.r.high_freq_factor;
        REQUIRE(is);
        c.r.pairing = pairing == "gptj" ? rope_pairing::gptj : rope_pairing::neox;
        const std::string names[] = {"none", "linear", "ntk", "yarn", "llama3"};
        for (int s = 0; s < 5; ++s)
            if (scaling == names[s]) c.r.scaling = static_cast<rope_scaling>(s);
        cases.push_back(c);
    }
    return cases;
}

// Units in the last place between two floats.
long ulps(float a, float b) {
    std::int32_t ia, ib;
    std::memcpy(&ia, &a, 4);
    std::memcpy(&ib, &b, 4);
    return std::labs(static_cast<long>(ia) - static_cast<long>(ib));
}

}  // namespace

TEST_CASE("rope against transformers (fixtures)", "[rope]") {
    const std::string dir = ATTUNE_ROPE_FIXTURE_DIR;
    INFO("fixtures in " << dir << " (tests/prepass/make_rope_fixtures.py writes them)");
    const auto cases = read_cases(dir);
    REQUIRE(cases.size() == 8);
    for (const auto& c : cases) {
        INFO("case " << c.name);
        const npy::array inv = npy::load(dir + "/" + c.name + "_inv_freq.npy"), pos = npy::load(dir + "/" + c.name + "_pos.npy"),
                         q = npy::load(dir + "/" + c.name + "_q.npy"), want = npy::load(dir + "/" + c.name + "_out.npy");
        const index_t L = static_cast<index_t>(pos.size()), D = c.r.head_dim;
        REQUIRE(q.shape == std::vector<std::size_t>{static_cast<std::size_t>(L), static_cast<std::size_t>(D)});
        std::vector<std::int32_t> ids;
        for (double p : pos.data) ids.push_back(static_cast<std::int32_t>(p));
        const index_t seq_len = ids.back() + 1;
        // The frequencies: transformers' float32 values, within two ulps (its float32 pow is not
        // always correctly rounded: dynamic NTK's large base shows it most).
        const auto t = attune::rope_frequencies(c.r, seq_len);
        REQUIRE(t.inv_freq.size() == inv.size());
        long worst = 0;
        double dinv = 0;  // largest |Δ inv_freq|: at position p it turns a pair by up to p · Δ
        for (std::size_t i = 0; i < inv.size(); ++i) {
            worst = std::max(worst, ulps(t.inv_freq[i], static_cast<float>(inv.data[i])));
            dinv = std::max(dinv, std::abs(t.inv_freq[i] - inv.data[i]));
        }
        CHECK(worst <= 2);
        double qmax = 0;
        for (double v : q.data) qmax = std::max(qmax, std::abs(v));
        // The rotation with transformers' float32 angles: its numbers to float rounding, but for the
        // frequencies' ulps (times the position); exact angles: also transformers' angle rounding.
        tensor<float> x(1, 1, L, D), out(1, 1, L, D);
        for (index_t l = 0; l < L; ++l)
            for (index_t d = 0; d < D; ++d) x.view(0, 0, l, d) = static_cast<float>(q.data[static_cast<std::size_t>(l * D + d)]);
        for (auto angles : {attune::rope_angles::float32, attune::rope_angles::exact}) {
            rope r = c.r;
            r.angles = angles;
            attune::apply_rope<arch>(r, x.cview(), out.view, rope_positions::per_token(ids.data()));
            for (index_t l = 0; l < L; ++l) {
                const double p = ids[static_cast<std::size_t>(l)];
                double e = 0;
                for (index_t d = 0; d < D; ++d)
                    e = std::max(e, std::abs(out.view(0, 0, l, d) - want.data[static_cast<std::size_t>(l * D + d)]));
                const double angle_rounding = angles == attune::rope_angles::exact ? p * std::ldexp(1.0, -24) : 0.0;
                INFO("position " << p << (angles == attune::rope_angles::exact ? " exact" : " float32") << " angles");
                CHECK(e <= 2e-5 + 2 * qmax * (p * dinv + angle_rounding));
                if (p < 64) CHECK(e <= 2e-5);  // small positions: the same numbers
            }
        }
    }
}

TEST_CASE("rope: hostile inputs are attune::error naming the argument", "[rope]") {
    tensor<float> x(1, 2, 4, 64), y(1, 2, 4, 64);
    const rope good = make_rope(64, 0, rope_pairing::neox, rope_scaling::none);
    const auto pos0 = rope_positions::from_offset(0);
    const auto fails = [&](const rope& r, const char* what) {
        INFO(what);
        CHECK_THROWS_WITH(attune::apply_rope<arch>(r, x.view, pos0), Catch::Contains(what));
        CHECK_THROWS_WITH(attune::rope_frequencies(r, 1), Catch::Contains(what));
    };
    rope r = good;
    r.rotary_dim = 33, fails(r, "rotary_dim");
    r.rotary_dim = 66, fails(r, "rotary_dim");
    r.rotary_dim = -2, fails(r, "rotary_dim");
    r = good, r.head_dim = 0, fails(r, "head_dim");
    r = good, r.theta = 0, fails(r, "theta");
    r = good, r.theta = -1, fails(r, "theta");
    r = good, r.theta = std::numeric_limits<double>::infinity(), fails(r, "theta");
    for (rope_scaling sc : {rope_scaling::linear, rope_scaling::ntk, rope_scaling::yarn, rope_scaling::llama3}) {
        r = make_rope(64, 0, rope_pairing::neox, sc), r.factor = 0, fails(r, "factor");
        r = make_rope(64, 0, rope_pairing::neox, sc), r.factor = -2, fails(r, "factor");
        r = make_rope(64, 0, rope_pairing::neox, sc), r.factor = std::nan(""), fails(r, "factor");
    }
    r = make_rope(64, 0, rope_pairing::neox, rope_scaling::yarn), r.original_max_position_embeddings = 0,
    fails(r, "original_max_position_embeddings");
    r = make_rope(64, 0, rope_pairing::neox, rope_scaling::yarn), r.beta_fast = 0, fails(r, "beta_fast");
    r = make_rope(64, 0, rope_pairing::neox, rope_scaling::yarn), r.attention_factor = -1, fails(r, "attention_factor");
    r = make_rope(64, 0, rope_pairing::neox, rope_scaling::yarn), r.theta = 1, fails(r, "theta");
    r = make_rope(64, 0, rope_pairing::neox, rope_scaling::llama3), r.high_freq_factor = 1, fails(r, "high_freq_factor");
    r = make_rope(64, 0, rope_pairing::neox, rope_scaling::ntk), r.rotary_dim = 2, fails(r, "rotary_dim");
    r = good, r.scaling = static_cast<rope_scaling>(9), fails(r, "scaling");
    r = good, r.pairing = static_cast<rope_pairing>(9), fails(r, "pairing");
    CHECK_THROWS_WITH(attune::rope_frequencies(good, -1), Catch::Contains("seq_len"));

    // Shapes, overlap, positions: nothing written before the error.
    const auto same = x.buf;
    const auto unchanged = [&] { CHECK(x.buf == same); };
    rope r80 = good;
    r80.head_dim = 80;
    CHECK_THROWS_WITH(attune::apply_rope<arch>(r80, x.view, pos0), Catch::Contains("head dim"));
    tensor<float> z(1, 2, 5, 64);
    CHECK_THROWS_WITH(attune::apply_rope<arch>(good, x.cview(), z.view, pos0), Catch::Contains("shape"));
    attune::tensor_view<float> shifted(x.buf.data() + 1, x.view.shape(), x.view.strides());
    CHECK_THROWS_WITH(attune::apply_rope<arch>(good, x.cview(), shifted, pos0), Catch::Contains("overlaps in"));
    attune::tensor_view<float> self_overlap(y.buf.data(), {1, 2, 4, 64}, {0, 0, 8});
    CHECK_THROWS_WITH(attune::apply_rope<arch>(good, x.cview(), self_overlap, pos0), Catch::Contains("overlaps itself"));
    CHECK_THROWS_WITH(attune::apply_rope<arch>(good, x.view, rope_positions::from_offset(-1)), Catch::Contains("offset"));
    CHECK_THROWS_WITH(attune::apply_rope<arch>(good, x.view, rope_positions::from_offset(std::numeric_limits<std::int32_t>::max() - 1)),
                      Catch::Contains("2^31"));
    std::vector<std::int32_t> ids{0, 1, -5, 3};
    CHECK_THROWS_WITH(attune::apply_rope<arch>(good, x.view, rope_positions::per_token(ids.data())), Catch::Contains("ids[0][2]"));
    CHECK_THROWS_WITH(attune::apply_rope<arch>(good, x.view, rope_positions::per_token(nullptr)), Catch::Contains("ids is null"));
    tensor<float> x2(2, 2, 4, 64);
    ids[2] = 2;
    CHECK_THROWS_WITH(attune::apply_rope<arch>(good, x2.view, rope_positions::per_token(ids.data(), 2)), Catch::Contains("batch_stride"));
    const std::vector<std::int32_t> at{0, 3, 2, 4}, bad_end{0, 1, 3};
    CHECK_THROWS_WITH(attune::apply_rope<arch>(good, x.view, rope_positions::ragged({at.data(), 3})), Catch::Contains("decrease"));
    CHECK_THROWS_WITH(attune::apply_rope<arch>(good, x.view, rope_positions::ragged({bad_end.data(), 2})), Catch::Contains("end at"));
    const std::vector<std::int32_t> ok{0, 1, 4}, neg{2, -1};
    CHECK_THROWS_WITH(attune::apply_rope<arch>(good, x.view, rope_positions::ragged({ok.data(), 2}, neg.data())),
                      Catch::Contains("starts[1]"));
    CHECK_THROWS_WITH(attune::apply_rope<arch>(good, x2.view, rope_positions::ragged({ok.data(), 2})), Catch::Contains("one batch row"));
    tensor<float> k(1, 2, 3, 64);
    CHECK_THROWS_WITH(attune::apply_rope_qk<arch>(good, x.view, k.view, pos0), Catch::Contains("tokens"));
    CHECK_THROWS_WITH(attune::apply_rope_qk<arch>(good, x.view, x.view, pos0), Catch::Contains("q overlaps k"));
    CHECK_THROWS_WITH(attune::rerotate_keys<arch>(good, x.view, pos0, rope_positions::from_offset(-3)), Catch::Contains("to.offset"));
    unchanged();
    // Empty inputs are no-ops.
    tensor<float> e(0, 2, 4, 64), e2(1, 2, 0, 64);
    attune::apply_rope<arch>(good, e.view, pos0);
    attune::apply_rope<arch>(good, e2.view, rope_positions::per_token(nullptr));
}
