// Rows of the probes and sink calibration (attune/calibration.hpp) in attune_bench; issue #8's
// targets are time ratios to the plain pass of the same shape, in the same run.
//
// Prefill B 1, H 8, L 2048, D 128, causal, fp32; the inputs carry attention sinks (keys 0, 40 and
// 300 gain +3 on every query's score), so ACT finds sinks and VAR's rule holds on most rows:
//   calibration/plain/L:2048/D:128            attune::attention with an LSE output (the baseline)
//   calibration/probe/L:2048/D:128            probe_attention on all heads (columns + rows). Target ≤ 1.0× plain
//   calibration/act/L:2048/D:128/heads:8      act_attention, every head calibrated. Target ≤ 1.6× plain
//   calibration/act/L:2048/D:128/heads:0      no head calibrated. Target: no cost (≈ 1.0× plain)
//   calibration/var/L:2048/D:128/image:576    var_attention, image span [40, 615], sinks {0, 40, 300}. Target ≤ 1.15×
// Decode Hq 32, Hkv 8, Lk 8192, D 128 (one query, split keys):
//   calibration/plain_decode/Lk:8192  and  calibration/act_decode/Lk:8192/heads:32
// Counters: "flops" credits every row with the plain pass's FLOPs (4·d per visible pair and head),
// so flops ratios are inverse time ratios; "bytes": the plain pass's Q, K, V and output bytes.
#include <cmath>
#include <string>
#include <vector>

#include "../support.hpp"
#include "attune/calibration.hpp"

namespace {

using namespace attune_bench;

enum class mode { plain, probe, act_all, act_none, var };

struct io {
    index_t hq, hkv, lq, lk, d;
    aligned_vector<float> q, k, v, out, lse;
    io(index_t hq_, index_t hkv_, index_t lq_, index_t lk_, index_t d_)
        : hq(hq_),
          hkv(hkv_),
          lq(lq_),
          lk(lk_),
          d(d_),
          q(random_vector<float>(static_cast<std::size_t>(hq * lq * d), 1)),
          k(random_vector<float>(static_cast<std::size_t>(hkv * lk * d), 2)),
          v(random_vector<float>(static_cast<std::size_t>(hkv * lk * d), 3)),
          out(static_cast<std::size_t>(hq * lq * d)),
          lse(static_cast<std::size_t>(hq * lq)) {
        // Sinks: q[..., 0] = 1 and k[sink, 0] = 3·√d.
        for (index_t i = 0; i < hq * lq; ++i) q[static_cast<std::size_t>(i * d)] = 1.0f;
        for (index_t h = 0; h < hkv; ++h)
            for (index_t j : {index_t(0), index_t(40), index_t(300)})
                if (j < lk) k[static_cast<std::size_t>((h * lk + j) * d)] = 3.0f * std::sqrt(static_cast<float>(d));
    }
    attune::tensor_view<const float> qv() const { return attune::view_bhld(q.data(), 1, hq, lq, d); }
    attune::tensor_view<const float> kv() const { return attune::view_bhld(k.data(), 1, hkv, lk, d); }
    attune::tensor_view<const float> vv() const { return attune::view_bhld(v.data(), 1, hkv, lk, d); }
    attune::tensor_view<float> ov() { return attune::view_bhld(out.data(), 1, hq, lq, d); }
    double flops() const {
        double pairs = 0;
        for (index_t i = 0; i < lq; ++i) pairs += static_cast<double>(lk - lq + i + 1);
        return 4.0 * static_cast<double>(hq) * pairs * static_cast<double>(d);
    }
    double bytes() const { return 4.0 * static_cast<double>(2 * hq * lq * d + 2 * hkv * lk * d); }
};

void bm_calibration(benchmark::State& state, index_t hq, index_t hkv, index_t lq, index_t lk, mode m) {
    const int threads = static_cast<int>(state.range(0));
    executor exec;
    if (!make_executor(state, threads, exec)) return;
    io x(hq, hkv, lq, lk, 128);
    const auto var = attune::variant<attune::causal>{};
    attune::options opt;
    opt.lse = attune::lse_view(x.lse.data(), 1, hq, lq);
    std::vector<index_t> all;
    for (index_t h = 0; h < hq; ++h) all.push_back(h);
    const attune::act_calibration act_all{all}, act_none{};
    attune::var_calibration vc;
    vc.sinks = {0, 40, 300};
    vc.image_first = 40, vc.image_last = 615;
    attune::probe_options po;
    auto call = [&] {
        switch (m) {
            case mode::plain:
                attune::attention(x.qv(), x.kv(), x.vv(), x.ov(), var, opt, exec);
                break;
            case mode::probe:
                benchmark::DoNotOptimize(attune::probe_attention(x.qv(), x.kv(), attune::tensor_view<const float>(opt.lse), var, po, exec));
                break;
            case mode::act_all:
                attune::act_attention(x.qv(), x.kv(), x.vv(), x.ov(), act_all, var, opt, exec);
                break;
            case mode::act_none:
                attune::act_attention(x.qv(), x.kv(), x.vv(), x.ov(), act_none, var, opt, exec);
                break;
            case mode::var:
                attune::var_attention(x.qv(), x.kv(), x.vv(), x.ov(), vc, var, opt, exec);
                break;
        }
    };
    attune::attention(x.qv(), x.kv(), x.vv(), x.ov(), var, opt, exec);  // the LSE the probe reads
    call();
    for (auto _ : state) {
        call();
        benchmark::DoNotOptimize(x.out.data());
        benchmark::ClobberMemory();
    }
    set_counters(state, x.flops(), x.bytes());
}

void register_calibration(const std::vector<int>& threads) {
    const std::string p = "calibration/", shape = "/L:2048/D:128";
    add(p + "plain" + shape, threads, bm_calibration, index_t(8), index_t(8), index_t(2048), index_t(2048), mode::plain);
    add(p + "probe" + shape, threads, bm_calibration, index_t(8), index_t(8), index_t(2048), index_t(2048), mode::probe);
    add(p + "act" + shape + "/heads:8", threads, bm_calibration, index_t(8), index_t(8), index_t(2048), index_t(2048), mode::act_all);
    add(p + "act" + shape + "/heads:0", threads, bm_calibration, index_t(8), index_t(8), index_t(2048), index_t(2048), mode::act_none);
    add(p + "var" + shape + "/image:576", threads, bm_calibration, index_t(8), index_t(8), index_t(2048), index_t(2048), mode::var);
    add(p + "plain_decode/Lk:8192", threads, bm_calibration, index_t(32), index_t(8), index_t(1), index_t(8192), mode::plain);
    add(p + "act_decode/Lk:8192/heads:32", threads, bm_calibration, index_t(32), index_t(8), index_t(1), index_t(8192), mode::act_all);
}

ATTUNE_BENCH_ROWS(register_calibration);

}  // namespace
