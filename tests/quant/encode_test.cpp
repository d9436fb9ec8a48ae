// Quantization on append, vectorised (simd/narrow.hpp, each format's quantize_row<Arch>): on this
// suite's arch every format writes the bytes of the scalar arch's loop — the reference, whose bytes
// tests/quant/ggml_fixture_test.cpp checks against ggml's and ml_dtypes' — for rows built to hit
// every branch: rounding ties, the largest magnitude with both signs, ±0 at a block's ends,
// subnormal floats and fp8 subnormals, the fp8 saturation edges, NaN and ±inf (first, inside, last),
// huge and all-equal blocks, and tails that are not whole vectors. Then the same through
// quant::quantize from bf16 rows and through quant_kv_cache's append.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "attune/cache/quant_kv_cache.hpp"
#include "attune/cache/paged_kv_cache.hpp"
#include "attune/quantized.hpp"
#include "support.hpp"

#ifndef ATTUNE_TEST_ARCH
#error "ATTUNE_TEST_ARCH must name the arch type the kernels are instantiated with"
#endif

using attune::index_t;
namespace quant = attune::quant;
using arch = ATTUNE_TEST_ARCH;

namespace {

const float inf = std::numeric_limits<float>::infinity();
const float nan_ = std::numeric_limits<float>::quiet_NaN();

// Rows of `dim` values, each built to reach one branch of the quantizers; `step` is the size of
// one quantization step for the rounding ties (x = (k + ½)·step lands on a tie after the scale).
std::vector<std::vector<float>> hostile_rows(index_t dim, std::uint32_t seed) {
    std::mt19937 gen(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::uniform_int_distribution<int> pick(0, static_cast<int>(dim) - 1);
    const auto n = static_cast<std::size_t>(dim);
    std::vector<std::vector<float>> rows;
    const auto add = [&](auto fill) {
        std::vector<float> r(n);
        for (std::size_t i = 0; i < n; ++i) r[i] = fill(i);
        rows.push_back(r);
    };
    for (int k = 0; k < 6; ++k) add([&](std::size_t) { return normal(gen); });
    add([&](std::size_t i) { return i % 17 == 3 ? 40.0f * normal(gen) : normal(gen); });  // outlier channels
    // ties: multiples of a half step of 127 and 8 and 15 levels over a maximum of 127 (or 8, 15)
    add([&](std::size_t i) { return i == 0 ? 127.0f : static_cast<float>(static_cast<int>(i % 254) - 127) * 0.5f; });
    add([&](std::size_t i) { return i % 32 == 5 ? -8.0f : static_cast<float>(static_cast<int>(i % 16) - 8) * 0.5f; });
    add([&](std::size_t i) { return i % 32 == 0 ? 15.0f : static_cast<float>(i % 31) * 0.5f; });
    // the largest magnitude with both signs (first + or first −), and with one
    add([&](std::size_t i) { return i % 32 == 7 ? 3.0f : i % 32 == 9 ? -3.0f : normal(gen); });
    add([&](std::size_t i) { return i % 32 == 7 ? -3.0f : i % 32 == 9 ? 3.0f : normal(gen); });
    add([&](std::size_t i) { return i % 32 == 31 ? -5.0f : 0.5f * normal(gen); });
    // zeros of both signs, at the ends of each block and everywhere
    add([&](std::size_t i) { return i % 2 == 0 ? -0.0f : 0.0f; });
    add([&](std::size_t i) { return i % 2 == 0 ? 0.0f : -0.0f; });
    add([&](std::size_t i) { return i % 32 == 0 ? -0.0f : std::fabs(normal(gen)); });  // a −0 minimum
    add([&](std::size_t i) { return i % 32 == 3 ? 0.0f : -std::fabs(normal(gen)); });  // a +0 maximum
    add([&](std::size_t i) { return i % 32 == 0 ? 0.0f : i % 32 == 4 ? -0.0f : std::fabs(normal(gen)); });
    // +0 before −0 in the row, −0 in the lower lane: a lane-wise minimum (maximum) would keep −0 (+0)
    add([&](std::size_t i) { return i % 32 == 2 ? 0.0f : i % 32 == 17 ? -0.0f : 1.0f + std::fabs(normal(gen)); });
    add([&](std::size_t i) { return i % 32 == 2 ? -0.0f : i % 32 == 17 ? 0.0f : -1.0f - std::fabs(normal(gen)); });
    // all equal, tiny, subnormal floats, fp8's subnormal and saturation edges
    add([&](std::size_t) { return 0.75f; });
    add([&](std::size_t i) { return static_cast<float>(i % 7) * 1e-42f; });
    add([&](std::size_t i) { return (i % 2 ? -1.0f : 1.0f) * std::ldexp(static_cast<float>(i % 64), -14); });
    add([&](std::size_t i) { return (i % 2 ? -1.0f : 1.0f) * std::ldexp(static_cast<float>(i % 40), -19); });
    add([&](std::size_t i) {
        const float edge[] = {448.0f,   463.9f,   464.0f, 464.1f,     480.0f,    57344.0f,
                              61439.0f, 61440.0f, 1e30f,  0.0156249f, 0.015625f, 0.00195312f};
        return (i % 3 ? 1.0f : -1.0f) * edge[i % 12];
    });
    add([&](std::size_t i) { return (i % 2 ? 1e30f : -3e29f) * static_cast<float>(1 + i % 5); });
    // NaN and ±inf: first, inside, last
    add([&](std::size_t i) { return i == 0 ? nan_ : normal(gen); });
    add([&](std::size_t i) { return i == 0 ? -inf : normal(gen); });
    add([&](std::size_t i) { return i % 32 == 0 ? nan_ : normal(gen); });
    add([&](std::size_t i) { return i + 1 == n ? inf : normal(gen); });
    for (int k = 0; k < 3; ++k) {
        const auto at = static_cast<std::size_t>(pick(gen));
        const float bad = k == 0 ? nan_ : k == 1 ? inf : -inf;
        add([&](std::size_t i) { return i == at ? bad : normal(gen); });
    }
    add([&](std::size_t i) { return i % 3 == 0 ? inf : i % 3 == 1 ? -inf : nan_; });
    return rows;
}

std::string hex(std::uint8_t b) {
    std::ostringstream o;
    o << "0x" << std::hex << static_cast<int>(b);
    return o.str();
}

// quantize_row<arch> against quantize_row<scalar>, byte for byte, over the hostile rows.
template <class F>
void same_bytes_as_scalar(const F& f, index_t dim, index_t head = 0) {
    const index_t nb = F::row_bytes(dim);
    std::vector<std::uint8_t> want(static_cast<std::size_t>(nb)), got(static_cast<std::size_t>(nb));
    int bad = 0, rows = 0;
    std::string first;
    for (const auto& x : hostile_rows(dim, static_cast<std::uint32_t>(dim * 131 + head))) {
        f.template quantize_row<attune::simd::scalar>(head, x.data(), want.data(), dim);
        f.template quantize_row<arch>(head, x.data(), got.data(), dim);
        for (index_t j = 0; j < nb; ++j)
            if (want[static_cast<std::size_t>(j)] != got[static_cast<std::size_t>(j)]) {
                if (bad++ == 0)
                    first = "row " + std::to_string(rows) + " byte " + std::to_string(j) + ": " + hex(got[static_cast<std::size_t>(j)]) +
                            ", scalar " + hex(want[static_cast<std::size_t>(j)]);
            }
        ++rows;
    }
    INFO(F::name() << " d" << dim << " on " << attune::simd::arch_name<arch>() << ": " << bad << " bytes differ; first: " << first);
    CHECK(bad == 0);
    CHECK(rows > 30);
}

}  // namespace

TEST_CASE("quantize_row on this arch writes the scalar reference's bytes, every format", "[quant]") {
    for (index_t dim : {1, 7, 15, 16, 17, 63, 65, 80, 129}) {
        same_bytes_as_scalar(quant::int8{}, dim);
        same_bytes_as_scalar(quant::fp8_e4m3{}, dim);
        same_bytes_as_scalar(quant::fp8_e5m2{}, dim);
    }
    for (index_t dim : {32, 64, 96, 128, 256}) {
        same_bytes_as_scalar(quant::int8{}, dim);
        same_bytes_as_scalar(quant::fp8_e4m3{}, dim);
        same_bytes_as_scalar(quant::fp8_e5m2{}, dim);
        same_bytes_as_scalar(quant::q8_0{}, dim);
        same_bytes_as_scalar(quant::q4_0{}, dim);
        same_bytes_as_scalar(quant::q4_1{}, dim);
        if (dim % 64 == 0) same_bytes_as_scalar(quant::int4_group<64>{}, dim);
        if (dim % 128 == 0) same_bytes_as_scalar(quant::int4_group<128>{}, dim);
    }
    SECTION("int8 with channel scales; fp8 with a scale and per-head scales") {
        for (index_t dim : {7, 64, 80, 129}) {
            std::vector<float> c(static_cast<std::size_t>(2 * dim));
            for (std::size_t i = 0; i < c.size(); ++i) c[i] = 0.25f + static_cast<float>(i % 11) * 0.7f;
            quant::int8 f;
            f.channel = c.data();
            f.channel_stride = dim;
            same_bytes_as_scalar(f, dim, 0);
            same_bytes_as_scalar(f, dim, 1);
            quant::fp8_e4m3 e4;
            e4.scale = 0.013f;
            same_bytes_as_scalar(e4, dim);
            const float hs[2] = {3.0f, 1.0f / 3.0f};
            quant::fp8_e5m2 e5;
            e5.head_scales = hs;
            same_bytes_as_scalar(e5, dim, 0);
            same_bytes_as_scalar(e5, dim, 1);
        }
    }
}

TEST_CASE("quantize from bf16 rows and quant_kv_cache's append write the scalar reference's bytes", "[quant]") {
    // 300 tokens: three items of append_rows a head; a first append of 5 and a decode step of 1 on the caller
    const index_t heads = 2, tokens = 300, dim = 64;
    static_assert(attune::quant_kv_cache<quant::q8_0>::append_rows == 128, "three token ranges a head below");
    attune_test::tensor<attune::bf16> k(1, heads, tokens, dim);
    attune_test::tensor<float> v(1, heads, tokens, dim);
    std::mt19937 gen(7);
    std::normal_distribution<float> normal(0.0f, 2.0f);
    for (index_t h = 0; h < heads; ++h)
        for (index_t t = 0; t < tokens; ++t)
            for (index_t d = 0; d < dim; ++d) {
                k.view(0, h, t, d) = attune::bf16(normal(gen));
                v.view(0, h, t, d) = normal(gen);
            }
    const auto part = [&](const auto& x, index_t t0, index_t n) {
        const auto c = x.cview();
        return decltype(c)(&c(0, 0, t0, 0), {1, heads, n, dim}, c.strides());
    };
    const auto check = [&](auto f) {
        using F = decltype(f);
        const auto q = quant::quantize(k.cview(), f);
        attune::quant_kv_cache<F, F> cache(heads, dim, dim, f, f);
        index_t items = -1;
        cache.append(part(k, 0, 5), part(v, 0, 5), attune_test::reversed_executor{4, &items});
        CHECK(items == -1);  // 20 rows: on the caller
        cache.append(part(k, 5, tokens - 6), part(v, 5, tokens - 6), attune_test::reversed_executor{4, &items});
        CHECK(items == 2 * heads * 3);
        cache.append(part(k, tokens - 1, 1), part(v, tokens - 1, 1), attune::openmp_executor{});
        REQUIRE(cache.tokens() == tokens);
        std::vector<float> row(static_cast<std::size_t>(dim));
        std::vector<std::uint8_t> want(static_cast<std::size_t>(F::row_bytes(dim)));
        int bad = 0;
        for (index_t h = 0; h < heads; ++h)
            for (index_t t = 0; t < tokens; ++t) {
                for (index_t d = 0; d < dim; ++d) row[static_cast<std::size_t>(d)] = attune::to_float(k.view(0, h, t, d));
                f.template quantize_row<attune::simd::scalar>(h, row.data(), want.data(), dim);
                const std::uint8_t* a = q.view().row(0, h, t);
                const std::uint8_t* b = cache.keys().row(0, h, t);
                for (std::size_t j = 0; j < want.size(); ++j) bad += (a[j] != want[j]) + (b[j] != want[j]);
                f.template quantize_row<attune::simd::scalar>(h, &v.view(0, h, t, 0), want.data(), dim);
                const std::uint8_t* c = cache.values().row(0, h, t);
                for (std::size_t j = 0; j < want.size(); ++j) bad += c[j] != want[j];
            }
        INFO(F::name());
        CHECK(bad == 0);
    };
    check(quant::int8{});
    check(quant::fp8_e4m3{});
    check(quant::q8_0{});
    check(quant::q4_0{});
    check(quant::int4_group<64>{});
}

namespace {
// Throws halfway through its items (a user's executor failing mid-append).
struct throwing_executor {
    index_t workers() const noexcept { return 4; }
    template <class Fn>
    void parallel_for(index_t n, Fn&& f) const {
        for (index_t i = 0; i < n; ++i) {
            if (i == n / 2) throw std::runtime_error("throwing_executor");
            f(i);
        }
    }
};
}  // namespace

// A prompt's append whose executor throws: the error reaches the caller, the cache holds what it
// held (tokens and bytes), and the same append then succeeds with the scalar reference's bytes.
TEST_CASE("quant_kv_cache::append with a throwing executor leaves the cache as it was", "[quant]") {
    const index_t heads = 2, dim = 32, n = 200;
    attune_test::tensor<float> k(1, heads, n, dim), v(1, heads, n, dim);
    std::mt19937 rng(9);
    k.fill_random(rng), v.fill_random(rng);
    attune::quant_kv_cache<quant::q8_0> cache(heads, dim, dim);
    const auto first = [&](const attune_test::tensor<float>& x) {
        const auto c = x.cview();
        return decltype(c)(&c(0, 0, 0, 0), {1, heads, 3, dim}, c.strides());
    };
    cache.append(first(k), first(v));
    const std::vector<std::uint8_t> before(cache.keys().row(0, 0, 0), cache.keys().row(0, 0, 0) + 3 * quant::q8_0::row_bytes(dim));
    CHECK_THROWS_WITH(cache.append(k.cview(), v.cview(), throwing_executor{}), Catch::Contains("throwing_executor"));
    CHECK(cache.tokens() == 3);
    CHECK(std::vector<std::uint8_t>(cache.keys().row(0, 0, 0), cache.keys().row(0, 0, 0) + 3 * quant::q8_0::row_bytes(dim)) == before);
    cache.append(k.cview(), v.cview(), attune::serial_executor{});
    REQUIRE(cache.tokens() == 3 + n);
    std::vector<std::uint8_t> want(static_cast<std::size_t>(quant::q8_0::row_bytes(dim)));
    int bad = 0;
    for (index_t h = 0; h < heads; ++h)
        for (index_t t = 0; t < n; ++t) {
            quant::q8_0{}.quantize_row<attune::simd::scalar>(h, &k.view(0, h, t, 0), want.data(), dim);
            bad += std::memcmp(cache.keys().row(0, h, 3 + t), want.data(), want.size()) != 0;
        }
    CHECK(bad == 0);
}

namespace {
// Token t of sequence s of a paged pool, head h: its K row's bytes.
template <class Pool>
const std::uint8_t* paged_key(const Pool& pool, attune::seq_id s, index_t h, index_t t) {
    return pool.k_pages().row(pool.page_ids(s)[t / pool.page_size()], h, t % pool.page_size());
}
// The bytes of every page the sequences hold (a free page's bytes are no one's).
template <class Pool>
std::vector<std::uint8_t> held_bytes(const Pool& pool, std::initializer_list<attune::seq_id> seqs) {
    std::vector<std::uint8_t> b;
    for (const attune::seq_id s : seqs)
        for (const auto& x : {pool.k_pages(), pool.v_pages()})
            for (index_t i = 0; i < pool.page_count(s); ++i)
                for (index_t h = 0; h < x.heads(); ++h)
                    for (index_t t = 0; t < x.tokens(); ++t) {
                        const std::uint8_t* row = x.row(pool.page_ids(s)[i], h, t);
                        b.insert(b.end(), row, row + x.row_bytes());
                    }
    return b;
}
}  // namespace

// paged_kv_cache::append over an executor (items of 128 tokens of one head's K or V, each across
// its pages' runs): a fork's copy-on-write append whose executor throws halfway leaves the free
// list, every sequence's pages, reference counts and held bytes as they were; then the same append, its items run in reverse on an
// executor, gives the scalar reference's bytes in both layouts, from float and from bf16 rows.
TEST_CASE("paged_kv_cache::append splits a prompt over the executor; a throwing executor leaves the pool as it was", "[quant]") {
    const index_t heads = 3, dim = 64, n = 300;
    std::mt19937 rng(10);
    attune_test::tensor<float> k(1, heads, n, dim), v(1, heads, n, dim);
    k.fill_random(rng), v.fill_random(rng);
    attune_test::tensor<attune::bf16> kb(1, heads, n, dim), vb(1, heads, n, dim);
    kb.fill_random(rng), vb.fill_random(rng);
    for (const auto layout : {attune::page_layout::nhd, attune::page_layout::hnd}) {
        attune::paged_kv_cache<quant::q8_0> pool(heads, dim, dim, 16, 60, layout, quant::q8_0{}, quant::q8_0{});
        const attune::seq_id a = pool.add_sequence();
        const auto five = [&](const auto& x) {
            const auto c = x.cview();
            return decltype(c)(&c(0, 0, 0, 0), {1, heads, 5, dim}, c.strides());
        };
        pool.append(a, five(k), five(v));
        const attune::seq_id b = pool.fork(a);  // shares a's partial page: b's append copies it first
        const auto before = held_bytes(pool, {a, b});
        const index_t free_before = pool.pages_free(), shared = pool.page_ids(b)[0];
        CHECK_THROWS_WITH(pool.append(b, k.cview(), v.cview(), throwing_executor{}), Catch::Contains("throwing_executor"));
        CHECK(pool.pages_free() == free_before);
        CHECK(pool.tokens(b) == 5);
        CHECK(pool.page_ids(b)[0] == shared);
        CHECK(pool.ref_count(shared) == 2);
        CHECK((held_bytes(pool, {a, b}) == before));
        pool.append(b, k.cview(), v.cview(), attune_test::reversed_executor{4});
        const attune::seq_id c = pool.add_sequence();
        pool.append(c, kb.cview(), vb.cview(), attune_test::reversed_executor{4});
        REQUIRE(pool.tokens(b) == 5 + n);
        CHECK(pool.page_ids(b)[0] != shared);
        CHECK(pool.ref_count(shared) == 1);
        std::vector<std::uint8_t> want(static_cast<std::size_t>(quant::q8_0::row_bytes(dim)));
        std::vector<float> wide(static_cast<std::size_t>(dim));
        int bad = 0;
        for (index_t h = 0; h < heads; ++h)
            for (index_t t = 0; t < n; ++t) {
                quant::q8_0{}.quantize_row<attune::simd::scalar>(h, &k.view(0, h, t, 0), want.data(), dim);
                bad += std::memcmp(paged_key(pool, b, h, 5 + t), want.data(), want.size()) != 0;
                for (index_t d = 0; d < dim; ++d) wide[static_cast<std::size_t>(d)] = static_cast<float>(kb.view(0, h, t, d));
                quant::q8_0{}.quantize_row<attune::simd::scalar>(h, wide.data(), want.data(), dim);
                bad += std::memcmp(paged_key(pool, c, h, t), want.data(), want.size()) != 0;
            }
        for (index_t h = 0; h < heads; ++h)  // the copied page keeps a's five tokens
            for (index_t t = 0; t < 5; ++t) bad += std::memcmp(paged_key(pool, b, h, t), paged_key(pool, a, h, t), want.size()) != 0;
        INFO((layout == attune::page_layout::nhd ? "nhd" : "hnd"));
        CHECK(bad == 0);
    }
}

// The decode kernels' fp8 widening (simd::load_fp8) on this arch: every byte's value, NaN for
// e4m3's 0x7f / 0xff and e5m2's NaN codes, the same as the scalar decoding the reference reads.
TEST_CASE("load_fp8 on this arch gives every byte's value", "[quant]") {
    constexpr std::size_t W = attune::simd::width<arch>;
    alignas(64) std::uint8_t bytes[256];
    for (int i = 0; i < 256; ++i) bytes[i] = static_cast<std::uint8_t>(i * 37 % 256);  // every byte, in no lane order
    const auto check = [&](auto e4m3) {
        constexpr bool E4M3 = decltype(e4m3)::value;
        int bad = 0, nans = 0;
        for (std::size_t i = 0; i + W <= 256; i += W) {
            alignas(64) float got[W];
            attune::simd::store<arch>(got, attune::simd::load_fp8<arch, E4M3>(bytes + i));
            for (std::size_t j = 0; j < W; ++j) {
                const float want = attune::simd::fp8_scaled_value<E4M3>(bytes[i + j]);
                nans += std::isnan(want);
                if (std::isnan(want) ? !std::isnan(got[j]) : (got[j] != want || std::signbit(got[j]) != std::signbit(want))) ++bad;
            }
        }
        INFO((E4M3 ? "e4m3" : "e5m2") << " on " << attune::simd::arch_name<arch>());
        CHECK(bad == 0);
        CHECK(nans == (E4M3 ? 2 : 6));
    };
    check(std::true_type{});
    check(std::false_type{});
}

// The decode kernels' shorter e4m3 widening for tiles without NaN (simd::load_e4m3_finite) gives
// load_fp8's value for every other byte, and e4m3_has_nan finds a NaN byte (0x7f or 0xff) at every
// position of lengths 1 … 200 (whole 64- and 32-byte steps and every tail) and none in bytes
// without one.
TEST_CASE("load_e4m3_finite and e4m3_has_nan on this arch", "[quant]") {
    constexpr std::size_t W = attune::simd::width<arch>;
    alignas(64) std::uint8_t bytes[256];
    std::size_t n = 0;
    for (int i = 0; i < 256; ++i)
        if ((i & 0x7f) != 0x7f) bytes[n++] = static_cast<std::uint8_t>(i * 37 % 256 == 0x7f || i * 37 % 256 == 0xff ? i : i * 37 % 256);
    for (std::size_t i = n; i < 256; ++i) bytes[i] = 0x38;  // 254 finite bytes, then 1.0 (code 0x38) to fill the last vector
    int bad = 0, seen = 0;
    for (std::size_t i = 0; i + W <= 256; i += W) {
        alignas(64) float got[W], want[W];
        attune::simd::store<arch>(got, attune::simd::load_e4m3_finite<arch>(bytes + i));
        attune::simd::store<arch>(want, attune::simd::load_fp8<arch, true>(bytes + i));
        for (std::size_t j = 0; j < W; ++j, ++seen)
            bad += got[j] != want[j] || std::signbit(got[j]) != std::signbit(want[j]) || std::isnan(got[j]);
    }
    INFO("on " << attune::simd::arch_name<arch>());
    CHECK(bad == 0);
    CHECK(seen == 256);
    CHECK_FALSE(attune::simd::e4m3_has_nan<arch>(bytes, 256));
    const std::uint8_t nan_byte = 0x7f;
    CHECK_FALSE(attune::simd::e4m3_has_nan<arch>(&nan_byte, 0));  // no bytes: nothing read

    std::mt19937 rng(7);
    std::vector<std::uint8_t> row(256);
    int missed = 0, false_alarms = 0;
    for (index_t len = 1; len <= 200; ++len) {
        for (auto& b : row) b = bytes[rng() % 254];
        false_alarms += attune::simd::e4m3_has_nan<arch>(row.data() + 1, len);  // unaligned, no NaN
        for (index_t at = 0; at < len; ++at) {
            const std::uint8_t keep = row[1 + at];
            row[1 + at] = at % 2 ? 0x7f : 0xff;
            missed += !attune::simd::e4m3_has_nan<arch>(row.data() + 1, len);
            row[1 + at] = keep;
        }
        row[1 + len] = 0x7f;  // just past the end: not seen
        false_alarms += attune::simd::e4m3_has_nan<arch>(row.data() + 1, len);
        row[0] = 0xff;  // just before
        false_alarms += attune::simd::e4m3_has_nan<arch>(row.data() + 1, len);
    }
    CHECK(missed == 0);
    CHECK(false_alarms == 0);
}
