// attune/attention.hpp and the tile engine (attune/kernel/*), built once per SIMD arch
// (ATTUNE_TEST_ARCH) and compared with the double-precision reference over odd sizes, GQA groups,
// Lq ≠ Lk (chunked prefill, decode, Lq > Lk), Dk ≠ Dv, layouts and padded strides, storage types,
// forced key splits, executors and the LSE output.
//
// Every call writes into an output poisoned with NaN inside a padded buffer: every element must be
// written and nothing around it touched. Inputs are N(0, 1) with fixed seeds; their padding is NaN,
// so reading outside a view shows up as NaN in the output.
//
// Tolerances (support.hpp):
//  - float32 output: max |ours − ref| ≤ 1e-4 and ‖ours − ref‖/‖ref‖ ≤ 1e-5 (golden/README.md).
//  - bf16/half inputs: the reference runs on the same rounded values, which float represents
//    exactly, and the kernel computes in float, so the float32 bounds apply unchanged.
//  - bf16 output: + 2^-8·|ref| per element and 2^-8 relative L2 (bf16 keeps 8 significant bits);
//    half output: + 2^-10·|ref| and 2^-10 (11 significant bits).
//  - LSE: |ours − ref| ≤ 1e-4; rows with nothing visible must be exactly −inf with zero output.
#include <cmath>
#include <limits>
#include <random>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>

#include "support.hpp"

#ifndef ATTUNE_TEST_ARCH
#error "ATTUNE_TEST_ARCH must name the arch type the kernels are instantiated with"
#endif

using attune::index_t;
using namespace attune_test;
using arch = ATTUNE_TEST_ARCH;

namespace {

enum class exec_kind { serial, openmp, pool };

struct case_t {
    index_t B = 1, Hq = 1, Hkv = 1, Lq = 1, Lk = 1, Dk = 64, Dv = 64;
    bool causal = false;
    layout lq = layout::bhld, lk = layout::bhld, lo = layout::bhld;
    index_t pad = 0;
    index_t offset = 0;  // elements from the 64-byte aligned buffer to each view (q, k, v, out)
    index_t splits = 0;
    float scale = 0.0f;
    float sigma = 1.0f;  // spread of q and k (larger: peakier softmax)
    exec_kind exec = exec_kind::serial;
};

std::string describe(const case_t& c) {
    std::ostringstream os;
    os << "arch " << ATTUNE_TEST_ARCH_NAME << ": B " << c.B << " Hq " << c.Hq << " Hkv " << c.Hkv << " Lq " << c.Lq << " Lk " << c.Lk
       << " Dk " << c.Dk << " Dv " << c.Dv << (c.causal ? " causal" : " no mask") << " layouts q " << layout_name(c.lq) << " kv "
       << layout_name(c.lk) << " out " << layout_name(c.lo) << " pad " << c.pad << " offset " << c.offset << " splits " << c.splits
       << " scale " << c.scale << " sigma " << c.sigma << " exec "
       << (c.exec == exec_kind::serial   ? "serial"
           : c.exec == exec_kind::openmp ? "openmp"
                                         : "pool");
    return os.str();
}

thread_pool& shared_pool() {
    static thread_pool pool(2);
    return pool;
}

template <class TIn>
struct inputs {
    tensor<TIn> q, k, v;
    inputs(const case_t& c, std::uint32_t seed)
        : q(c.B, c.Hq, c.Lq, c.Dk, c.lq, c.pad, c.offset),
          k(c.B, c.Hkv, c.Lk, c.Dk, c.lk, c.pad, c.offset),
          v(c.B, c.Hkv, c.Lk, c.Dv, c.lk, c.pad, c.offset) {
        std::mt19937 rng(seed);
        q.fill_random(rng, c.sigma);
        k.fill_random(rng, c.sigma);
        v.fill_random(rng);
    }
};

// Runs attune::attention<arch> for the case into a poisoned output (and LSE).
template <class TIn, class TOut>
void run_kernel(const case_t& c, const inputs<TIn>& in, tensor<TOut>& out, lse_buffer& lse) {
    out.poison();
    attune::options opt;
    opt.scale = c.scale;
    opt.lse = lse.view;
    opt.kv_splits = c.splits;
    auto go = [&](const auto& ex) {
        if (c.causal) attune::attention<arch>(in.q.cview(), in.k.cview(), in.v.cview(), out.view, attune::causal{}, opt, ex);
        else attune::attention<arch>(in.q.cview(), in.k.cview(), in.v.cview(), out.view, attune::no_mask{}, opt, ex);
    };
    switch (c.exec) {
        case exec_kind::serial:
            go(attune::serial_executor{});
            break;
        case exec_kind::pool:
            go(make_pool_executor(shared_pool()));
            break;
        case exec_kind::openmp:
#if defined(_OPENMP)
            go(attune::openmp_executor{3});
#else
            go(make_pool_executor(shared_pool()));
#endif
            break;
    }
}

template <class TIn>
attune::reference::result reference_for(const case_t& c, const inputs<TIn>& in) {
    if (c.causal) return attune::reference::attention(in.q.cview(), in.k.cview(), in.v.cview(), attune::causal{}, c.scale);
    return attune::reference::attention(in.q.cview(), in.k.cview(), in.v.cview(), attune::no_mask{}, c.scale);
}

// The whole check of one case: kernel vs reference, every element written, LSE.
template <class TIn, class TOut = float>
void check_case(const case_t& c, std::uint32_t seed, const tolerance& tol = output_tolerance<TOut>()) {
    INFO(describe(c) << " in " << attune::storage_name<TIn>() << " out " << attune::storage_name<TOut>() << " seed " << seed);
    const inputs<TIn> in(c, seed);
    tensor<TOut> out(c.B, c.Hq, c.Lq, c.Dv, c.lo, c.pad, c.offset);
    lse_buffer lse(c.B, c.Hq, c.Lq);
    run_kernel(c, in, out, lse);
    double v_max = 0.0;  // softmax: Σ w|v| / l ≤ max|v|
    for (const auto& x : in.v.buf) v_max = std::max(v_max, std::isnan(attune::to_float(x)) ? 0.0 : double(std::abs(attune::to_float(x))));
    check_against_reference(out, reference_for(c, in), with_rounded_weights<TIn, TIn, TIn, TOut>(tol, v_max), &lse);
}

layout cycle(int i) { return i % 2 == 0 ? layout::bhld : layout::blhd; }

}  // namespace

TEST_CASE("fp32: tokens x head dims x GQA groups, causal and not", "[attention]") {
    std::uint32_t seed = 1000;
    int i = 0;
    for (index_t L : {1, 7, 63, 65, 129})
        for (index_t D : {32, 64, 80, 128})
            for (index_t g : {1, 4, 8})
                for (bool causal : {false, true}) {
                    case_t c;
                    c.Hkv = g == 8 ? 1 : 2;
                    c.Hq = g * c.Hkv;
                    c.B = (i % 5 == 0) ? 2 : 1;
                    c.Lq = c.Lk = L;
                    c.Dk = c.Dv = D;
                    c.causal = causal;
                    c.lq = cycle(i);
                    c.lk = cycle(i / 2);
                    c.lo = cycle(i / 4);
                    c.pad = (i % 3 == 0) ? 5 : 0;
                    check_case<float>(c, seed++);
                    ++i;
                }
}

TEST_CASE("fp32: 1000 tokens", "[attention][long]") {
    case_t c;
    c.Lq = c.Lk = 1000;
    c.causal = true;
    c.Dk = c.Dv = 64;
    check_case<float>(c, 1);
    c.causal = false;
    c.Hq = 4;
    c.Dk = c.Dv = 80;
    c.lk = layout::blhd;
    c.exec = exec_kind::openmp;
    check_case<float>(c, 2);
    c = case_t{};
    c.Hq = 8;
    c.Lq = 1;
    c.Lk = 1000;
    c.Dk = c.Dv = 128;
    c.exec = exec_kind::pool;
    check_case<float>(c, 3);
}

TEST_CASE("fp32: chunked prefill, Lq < Lk", "[attention]") {
    std::uint32_t seed = 2000;
    for (index_t Lq : {7, 63, 65})
        for (index_t Lk : {129, 300})
            for (bool causal : {true, false}) {
                case_t c;
                c.Hkv = 2;
                c.Hq = 8;
                c.Lq = Lq;
                c.Lk = Lk;
                c.Dk = c.Dv = Lq == 63 ? 128 : 64;
                c.causal = causal;
                c.lk = layout::blhd;
                check_case<float>(c, seed++);
            }
    case_t c;  // a chunk at the end of a 1000-token cache
    c.Hkv = 1;
    c.Hq = 4;
    c.Lq = 65;
    c.Lk = 1000;
    c.Dk = c.Dv = 64;
    c.causal = true;
    c.exec = exec_kind::openmp;
    check_case<float>(c, seed++);
}

TEST_CASE("fp32: decode, Lq 1..4 against a long cache, automatic splits", "[attention]") {
    std::uint32_t seed = 3000;
    for (index_t Lq : {1, 2, 3, 4})
        for (index_t g : {1, 4, 8})
            for (bool causal : {false, true}) {
                case_t c;
                c.B = Lq == 2 ? 2 : 1;
                c.Hkv = 2;
                c.Hq = 2 * g;
                c.Lq = Lq;
                c.Lk = (Lq == 1 || g == 8) ? 1000 : 257;
                c.Dk = c.Dv = 128;
                c.causal = causal;
                c.lq = c.lk = c.lo = layout::blhd;
                c.exec = Lq % 2 == 0 ? exec_kind::openmp : exec_kind::pool;  // workers > 1: the kernel splits the keys
                check_case<float>(c, seed++);
            }
}

TEST_CASE("fp32: causal with Lq > Lk, the first rows see nothing: zeros and LSE -inf", "[attention]") {
    std::uint32_t seed = 4000;
    struct lens {
        index_t Lq, Lk;
    };
    for (const lens l : {lens{65, 7}, lens{129, 63}, lens{7, 1}, lens{300, 200}})
        for (index_t splits : {0, 1, 3}) {
            case_t c;
            c.Hkv = 1;
            c.Hq = 4;
            c.Lq = l.Lq;
            c.Lk = l.Lk;
            c.Dk = c.Dv = 32;
            c.causal = true;
            c.splits = splits;
            c.exec = exec_kind::openmp;
            INFO(describe(c));
            const inputs<float> in(c, seed++);
            tensor<float> out(c.B, c.Hq, c.Lq, c.Dv);
            lse_buffer lse(c.B, c.Hq, c.Lq);
            run_kernel(c, in, out, lse);
            check_against_reference(out, reference_for(c, in), fp32_tolerance(), &lse);
            index_t not_zero = 0, not_neg_inf = 0;
            for (index_t h = 0; h < c.Hq; ++h)
                for (index_t i = 0; i < c.Lq - c.Lk; ++i) {
                    for (index_t d = 0; d < c.Dv; ++d) not_zero += out.view(0, h, i, d) != 0.0f;
                    not_neg_inf += *lse.view.row(0, h, i) != -std::numeric_limits<float>::infinity();
                }
            CHECK(not_zero == 0);
            CHECK(not_neg_inf == 0);
        }
}

TEST_CASE("fp32: Dk != Dv", "[attention]") {
    std::uint32_t seed = 5000;
    struct dims {
        index_t Dk, Dv;
    };
    int i = 0;
    for (const dims d : {dims{64, 80}, dims{128, 32}, dims{32, 17}, dims{80, 7}, dims{17, 64}, dims{3, 130}})
        for (bool causal : {false, true}) {
            case_t c;
            c.Hkv = 2;
            c.Hq = 4;
            c.Lq = 65;
            c.Lk = i % 2 ? 65 : 129;
            c.Dk = d.Dk;
            c.Dv = d.Dv;
            c.causal = causal;
            c.lk = cycle(i);
            c.pad = i % 3 == 1 ? 3 : 0;
            check_case<float>(c, seed++);
            ++i;
        }
}

TEST_CASE("fp32: every combination of layouts, with and without padded rows", "[attention]") {
    std::uint32_t seed = 6000;
    for (layout lq : {layout::bhld, layout::blhd})
        for (layout lk : {layout::bhld, layout::blhd})
            for (layout lo : {layout::bhld, layout::blhd})
                for (index_t pad : {0, 3, 16}) {
                    case_t c;
                    c.B = 2;
                    c.Hkv = 2;
                    c.Hq = 4;
                    c.Lq = 33;
                    c.Lk = 65;
                    c.Dk = 64;
                    c.Dv = pad == 3 ? 80 : 64;
                    c.causal = pad != 16;
                    c.lq = lq;
                    c.lk = lk;
                    c.lo = lo;
                    c.pad = pad;
                    check_case<float>(c, seed++);
                }
}

namespace {

// Runs the offset cases for one input type: views 1 and 4 elements off the aligned buffers give
// the bits of aligned views.
template <class TIn>
void check_offsets(std::uint32_t seed) {
    for (const index_t d : {32, 64, 80, 128})
        for (const index_t lq : {1, 7, 65, 129})
            for (const index_t group : {1, 4}) {
                case_t c;
                c.Hkv = 2;
                c.Hq = 2 * group;
                c.Lq = lq;
                c.Lk = lq == 1 ? 200 : lq;
                c.Dk = c.Dv = d;
                c.causal = lq % 2 == 1;
                const inputs<TIn> aligned_in(c, seed);
                tensor<float> aligned_out(c.B, c.Hq, c.Lq, c.Dv);
                lse_buffer aligned_lse(c.B, c.Hq, c.Lq);
                run_kernel(c, aligned_in, aligned_out, aligned_lse);
                for (const index_t offset : {1, 4}) {
                    c.offset = offset;
                    INFO(describe(c) << " in " << attune::storage_name<TIn>());
                    const inputs<TIn> in(c, seed);
                    tensor<float> out(c.B, c.Hq, c.Lq, c.Dv, layout::bhld, 0, offset);
                    lse_buffer lse(c.B, c.Hq, c.Lq);
                    run_kernel(c, in, out, lse);
                    CHECK(max_difference(out, aligned_out) == 0.0);
                    CHECK(lse.data == aligned_lse.data);
                    check_case<TIn>(c, seed);
                }
                ++seed;
            }
}

}  // namespace

TEST_CASE("views off the vector boundary give the bits of aligned views", "[attention]") {
    // The kernels make no alignment assumption about the user's rows (unaligned loads and stores,
    // bf16 pairs included): the same products in the same order, so the same bits. Offsets 1 and
    // 4 elements (4 and 16 bytes of float: 16 is a std::vector's alignment), prefill and decode,
    // causal and not.
    check_offsets<float>(6100);
    check_offsets<attune::bf16>(6200);
}

TEST_CASE("fp32: explicit scale and peaky scores (the running max moves across tiles)", "[attention]") {
    case_t c;
    c.Hq = 4;
    c.Hkv = 2;
    c.Lq = 65;
    c.Lk = 300;
    c.Dk = c.Dv = 64;
    for (float scale : {0.05f, 0.3f}) {
        c.scale = scale;
        check_case<float>(c, 7000);
    }
    c.scale = 0.0f;
    c.sigma = 3.0f;  // scores with std ~9: softmax close to one-hot, maxima change tile to tile
    c.causal = true;
    check_case<float>(c, 7001);
    c.splits = 3;
    check_case<float>(c, 7002);
}

TEST_CASE("fp32: scores growing along the keys rescale the accumulators every tile", "[attention]") {
    // k_j = (1 + j/40)·q-direction: each new tile holds a larger maximum than all before it.
    case_t c;
    c.Hq = 2;
    c.Lq = 3;
    c.Lk = 640;
    c.Dk = c.Dv = 32;
    inputs<float> in(c, 7100);
    for (index_t h = 0; h < c.Hkv; ++h)
        for (index_t j = 0; j < c.Lk; ++j)
            for (index_t d = 0; d < c.Dk; ++d) in.k.view(0, h, j, d) = in.q.view(0, 0, 0, d) * (1.0f + float(j) / 40.0f) * 0.25f;
    for (index_t splits : {1, 4}) {
        c.splits = splits;
        INFO(describe(c));
        tensor<float> out(c.B, c.Hq, c.Lq, c.Dv);
        lse_buffer lse(c.B, c.Hq, c.Lq);
        run_kernel(c, in, out, lse);
        check_against_reference(out, reference_for(c, in), fp32_tolerance(), &lse);
    }
}

TEST_CASE("fp32: unusual strides: reversed tokens (negative stride) and K/V broadcast over the batch (zero stride)", "[attention]") {
    std::mt19937 rng(7200);
    const index_t B = 3, Hq = 8, Hkv = 2, Lq = 5, Lk = 200, D = 64;
    tensor<float> q(B, Hq, Lq, D), k(1, Hkv, Lk, D), v(1, Hkv, Lk, D);
    q.fill_random(rng);
    k.fill_random(rng);
    v.fill_random(rng);
    // K/V of batch 0 seen by every batch (batch stride 0), tokens read last to first.
    auto reversed = [&](const tensor<float>& t) {
        const auto& s = t.view.strides();
        return attune::tensor_view<const float>(t.view.row(0, 0, Lk - 1), {B, Hkv, Lk, D}, {0, s[1], -s[2]});
    };
    const auto kr = reversed(k), vr = reversed(v);
    for (bool causal : {false, true})
        for (index_t splits : {1, 3}) {
            INFO("arch " << ATTUNE_TEST_ARCH_NAME << (causal ? " causal" : " no mask") << " splits " << splits);
            tensor<float> out(B, Hq, Lq, D);
            out.poison();
            lse_buffer lse(B, Hq, Lq);
            attune::options opt;
            opt.lse = lse.view;
            opt.kv_splits = splits;
            if (causal) attune::attention<arch>(q.cview(), kr, vr, out.view, attune::causal{}, opt, attune::serial_executor{});
            else attune::attention<arch>(q.cview(), kr, vr, out.view, attune::no_mask{}, opt, attune::serial_executor{});
            const auto ref = causal ? attune::reference::attention(q.cview(), kr, vr, attune::causal{})
                                    : attune::reference::attention(q.cview(), kr, vr, attune::no_mask{});
            check_against_reference(out, ref, fp32_tolerance(), &lse);
        }
}

TEST_CASE("bf16 and half inputs, float output", "[attention][lowp]") {
    std::uint32_t seed = 8000;
    int i = 0;
    for (index_t L : {1, 7, 65, 129})
        for (index_t D : {32, 80, 128})
            for (bool causal : {false, true}) {
                case_t c;
                c.Hkv = 2;
                c.Hq = i % 3 == 0 ? 16 : 4;
                c.Lq = L;
                c.Lk = L == 1 ? 300 : L;
                c.Dk = c.Dv = D;
                c.causal = causal;
                c.lq = cycle(i);
                c.lk = cycle(i + 1);
                c.pad = i % 4 == 0 ? 2 : 0;
                check_case<attune::bf16>(c, seed++);
                check_case<attune::half>(c, seed++);
                ++i;
            }
}

TEST_CASE("bf16 and half inputs with bf16 and half outputs", "[attention][lowp]") {
    std::uint32_t seed = 9000;
    int i = 0;
    for (index_t L : {7, 63, 129})
        for (index_t D : {64, 80})
            for (bool causal : {false, true}) {
                case_t c;
                c.Hkv = 1;
                c.Hq = 4;
                c.Lq = L;
                c.Lk = L;
                c.Dk = c.Dv = D;
                c.causal = causal;
                c.lo = cycle(i);
                c.pad = i % 3 == 0 ? 4 : 0;
                check_case<attune::bf16, attune::bf16>(c, seed++);
                check_case<attune::half, attune::half>(c, seed++);
                ++i;
            }
    case_t c;  // decode with splits, low-precision all the way
    c.Hkv = 2;
    c.Hq = 16;
    c.Lq = 1;
    c.Lk = 1000;
    c.Dk = c.Dv = 128;
    c.splits = 3;
    check_case<attune::bf16, attune::bf16>(c, seed++);
    check_case<attune::half, attune::half>(c, seed++);
}

TEST_CASE("bf16 and half decode and prefill with odd head dims (vector tails)", "[attention][lowp]") {
    std::uint32_t seed = 9500;
    struct dims {
        index_t Dk, Dv;
    };
    int i = 0;
    for (index_t Lq : {1, 2, 33})
        for (const dims d : {dims{17, 33}, dims{3, 7}, dims{130, 24}}) {
            case_t c;
            c.Hkv = 2;
            c.Hq = 8;
            c.Lq = Lq;
            c.Lk = 257;
            c.Dk = d.Dk;
            c.Dv = d.Dv;
            c.causal = i % 2 == 1;
            c.lk = cycle(i);
            c.pad = 1;
            c.splits = i % 3;
            check_case<attune::bf16>(c, seed++);
            check_case<attune::half>(c, seed++);
            ++i;
        }
}

TEST_CASE("mixed storage types: q float, k bf16, v half", "[attention][lowp]") {
    std::mt19937 rng(9600);
    const index_t Hq = 8, Hkv = 2, D = 64;
    for (index_t Lq : {1, 40}) {
        const index_t Lk = 300;
        INFO("arch " << ATTUNE_TEST_ARCH_NAME << " Lq " << Lq);
        tensor<float> q(1, Hq, Lq, D);
        tensor<attune::bf16> k(1, Hkv, Lk, D, layout::blhd);
        tensor<attune::half> v(1, Hkv, Lk, D, layout::blhd, 3);
        q.fill_random(rng);
        k.fill_random(rng);
        v.fill_random(rng);
        tensor<float> out(1, Hq, Lq, D);
        out.poison();
        lse_buffer lse(1, Hq, Lq);
        attune::options opt;
        opt.lse = lse.view;
        attune::attention<arch>(q.cview(), k.cview(), v.cview(), out.view, attune::causal{}, opt, attune::serial_executor{});
        check_against_reference(out, attune::reference::attention(q.cview(), k.cview(), v.cview(), attune::causal{}), fp32_tolerance(),
                                &lse);
    }
}

TEST_CASE("forced kv_splits 1, 2, 3, 7 equal the unsplit result", "[attention][splits]") {
    std::uint32_t seed = 10000;
    struct shape {
        index_t Hq, Hkv, Lq, Lk, D;
        bool causal;
    };
    for (const shape s : {shape{8, 1, 1, 1000, 128, false}, shape{4, 2, 3, 1000, 64, true}, shape{2, 1, 129, 129, 32, true},
                          shape{4, 4, 65, 1000, 80, true}, shape{2, 1, 300, 200, 32, true}}) {
        case_t c;
        c.Hq = s.Hq;
        c.Hkv = s.Hkv;
        c.Lq = s.Lq;
        c.Lk = s.Lk;
        c.Dk = c.Dv = s.D;
        c.causal = s.causal;
        const inputs<float> in(c, seed++);
        const auto ref = reference_for(c, in);
        tensor<float> unsplit(c.B, c.Hq, c.Lq, c.Dv);
        lse_buffer lse1(c.B, c.Hq, c.Lq);
        c.splits = 1;
        run_kernel(c, in, unsplit, lse1);
        for (index_t splits : {1, 2, 3, 7}) {
            c.splits = splits;
            for (exec_kind ek : {exec_kind::serial, exec_kind::openmp}) {
                c.exec = ek;
                INFO(describe(c));
                tensor<float> out(c.B, c.Hq, c.Lq, c.Dv);
                lse_buffer lse(c.B, c.Hq, c.Lq);
                run_kernel(c, in, out, lse);
                check_against_reference(out, ref, fp32_tolerance(), &lse);
                // Only the summation order differs from the unsplit run.
                CHECK(max_difference(out, unsplit) <= 2e-6);
            }
        }
    }
}

TEST_CASE("serial, OpenMP and pool executors give bit-identical results for fixed splits", "[attention][executor]") {
    std::uint32_t seed = 11000;
    struct shape {
        index_t Hq, Hkv, Lq, Lk, D;
        bool causal;
        index_t splits;
    };
    for (const shape s : {shape{8, 2, 1, 1000, 128, false, 4}, shape{4, 1, 129, 129, 64, true, 1}, shape{8, 8, 65, 300, 80, true, 2}}) {
        case_t c;
        c.Hq = s.Hq;
        c.Hkv = s.Hkv;
        c.Lq = s.Lq;
        c.Lk = s.Lk;
        c.Dk = c.Dv = s.D;
        c.causal = s.causal;
        c.splits = s.splits;
        const inputs<float> in(c, seed++);
        tensor<float> o_serial(c.B, c.Hq, c.Lq, c.Dv), o_omp(c.B, c.Hq, c.Lq, c.Dv), o_pool(c.B, c.Hq, c.Lq, c.Dv);
        lse_buffer l1(c.B, c.Hq, c.Lq), l2(c.B, c.Hq, c.Lq), l3(c.B, c.Hq, c.Lq);
        INFO(describe(c));
        c.exec = exec_kind::serial;
        run_kernel(c, in, o_serial, l1);
        c.exec = exec_kind::openmp;
        run_kernel(c, in, o_omp, l2);
        c.exec = exec_kind::pool;
        run_kernel(c, in, o_pool, l3);
        CHECK(max_difference(o_serial, o_omp) == 0.0);
        CHECK(max_difference(o_serial, o_pool) == 0.0);
        CHECK(l1.data == l2.data);
        CHECK(l1.data == l3.data);
        check_against_reference(o_pool, reference_for(c, in), fp32_tolerance(), &l3);
    }
}

TEST_CASE("two identical calls on one thread give bit-identical results", "[attention][determinism]") {
    // The per-thread scratch is reused between calls; nothing left in it may change a result.
    std::uint32_t seed = 11500;
    struct shape {
        index_t Hq, Hkv, Lq, Lk, D;
        bool causal;
    };
    for (const shape s : {shape{8, 2, 1, 1000, 128, false}, shape{4, 1, 2, 700, 64, true}, shape{32, 2, 1, 1000, 128, false},
                          shape{4, 2, 65, 300, 80, true}}) {
        for (index_t splits : {1, 4}) {
            case_t c;
            c.Hq = s.Hq;
            c.Hkv = s.Hkv;
            c.Lq = s.Lq;
            c.Lk = s.Lk;
            c.Dk = c.Dv = s.D;
            c.causal = s.causal;
            c.splits = splits;
            INFO(describe(c));
            const inputs<float> in(c, seed++);
            tensor<float> first(c.B, c.Hq, c.Lq, c.Dv), second(c.B, c.Hq, c.Lq, c.Dv);
            lse_buffer l1(c.B, c.Hq, c.Lq), l2(c.B, c.Hq, c.Lq);
            run_kernel(c, in, first, l1);
            run_kernel(c, in, second, l2);
            CHECK(max_difference(first, second) == 0.0);
            CHECK(l1.data == l2.data);
        }
    }
}

TEST_CASE("no LSE requested: the output is the same", "[attention]") {
    case_t c;
    c.Hq = 4;
    c.Lq = 20;
    c.Lk = 70;
    c.Dk = c.Dv = 32;
    c.causal = true;
    const inputs<float> in(c, 12000);
    tensor<float> a(c.B, c.Hq, c.Lq, c.Dv), b(c.B, c.Hq, c.Lq, c.Dv);
    lse_buffer lse(c.B, c.Hq, c.Lq);
    run_kernel(c, in, a, lse);
    b.poison();
    attune::attention<arch>(in.q.cview(), in.k.cview(), in.v.cview(), b.view, attune::causal{}, {}, attune::serial_executor{});
    CHECK(max_difference(a, b) == 0.0);
}

TEST_CASE("an empty key range (Lk = 0) gives zeros and LSE -inf; Lq = 0 does nothing", "[attention]") {
    case_t c;
    c.Hq = 2;
    c.Lq = 3;
    c.Lk = 0;
    c.Dk = c.Dv = 16;
    for (bool causal : {false, true}) {
        c.causal = causal;
        INFO(describe(c));
        const inputs<float> in(c, 13000);
        tensor<float> out(c.B, c.Hq, c.Lq, c.Dv);
        lse_buffer lse(c.B, c.Hq, c.Lq);
        run_kernel(c, in, out, lse);
        index_t bad = 0;
        for (index_t h = 0; h < c.Hq; ++h)
            for (index_t t = 0; t < c.Lq; ++t) {
                for (index_t d = 0; d < c.Dv; ++d) bad += out.view(0, h, t, d) != 0.0f;
                bad += *lse.view.row(0, h, t) != -std::numeric_limits<float>::infinity();
            }
        CHECK(bad == 0);
    }
    c.Lq = 0;
    c.Lk = 5;
    const inputs<float> in(c, 13001);
    tensor<float> out(c.B, c.Hq, c.Lq, c.Dv);
    lse_buffer lse(c.B, c.Hq, c.Lq);
    REQUIRE_NOTHROW(run_kernel(c, in, out, lse));
}

TEST_CASE("NaN in q or k reaches exactly the outputs it touches", "[attention][nan]") {
    case_t c;
    c.Lq = c.Lk = 40;
    c.Dk = c.Dv = 16;
    c.causal = true;
    const float nan = std::numeric_limits<float>::quiet_NaN();
    {
        inputs<float> in(c, 14000);
        in.q.view(0, 0, 10, 3) = nan;  // query row 10 only
        tensor<float> out(1, 1, c.Lq, c.Dv);
        lse_buffer lse(1, 1, c.Lq);
        run_kernel(c, in, out, lse);
        for (index_t t = 0; t < c.Lq; ++t) {
            INFO("row " << t);
            index_t nans = 0;
            for (index_t d = 0; d < c.Dv; ++d) nans += std::isnan(out.view(0, 0, t, d));
            CHECK(nans == (t == 10 ? c.Dv : 0));
        }
    }
    {
        inputs<float> in(c, 14001);
        in.k.view(0, 0, 20, 5) = nan;  // key 20: seen by rows 20.. under causal
        tensor<float> out(1, 1, c.Lq, c.Dv);
        lse_buffer lse(1, 1, c.Lq);
        run_kernel(c, in, out, lse);
        for (index_t t = 0; t < c.Lq; ++t) {
            INFO("row " << t);
            index_t nans = 0;
            for (index_t d = 0; d < c.Dv; ++d) nans += std::isnan(out.view(0, 0, t, d));
            CHECK(nans == (t >= 20 ? c.Dv : 0));
            INFO("LSE " << *lse.view.row(0, 0, t));
            CHECK(std::isnan(*lse.view.row(0, 0, t)) == (t >= 20));
        }
    }
}

TEST_CASE("NaN in v reaches every row that sees that key, and no row of a skipped tile", "[attention][nan]") {
    // The documented choice (attention.hpp): a NaN value reaches every row that sees its key.
    // A row that cannot see the key stays finite when the key's whole kv tile is masked for the
    // row's query tile (the tile is skipped); inside a partly visible tile it may get NaN through
    // 0·NaN in P·V, as in PyTorch and FlashAttention. Key 150 lies in kv tile [128, 192): rows
    // before 128 never share a tile with it (query tiles divide 64 and start at 0 here).
    case_t c;
    c.Lq = c.Lk = 200;
    c.Dk = c.Dv = 16;
    c.causal = true;
    inputs<float> in(c, 14002);
    in.v.view(0, 0, 150, 7) = std::numeric_limits<float>::quiet_NaN();
    tensor<float> out(1, 1, c.Lq, c.Dv);
    lse_buffer lse(1, 1, c.Lq);
    run_kernel(c, in, out, lse);
    STATIC_REQUIRE(attune::kernel::work_plan::kv_tile == 64);
    index_t wrong_nan = 0, missing_nan = 0;
    for (index_t t = 0; t < c.Lq; ++t)
        for (index_t d = 0; d < c.Dv; ++d) {
            const bool got = std::isnan(out.view(0, 0, t, d));
            missing_nan += t >= 150 && d == 7 && !got;
            wrong_nan += (t < 128 || d != 7) && got;
        }
    INFO("NaN at v[key 150][7]");
    CHECK(missing_nan == 0);
    CHECK(wrong_nan == 0);
}
