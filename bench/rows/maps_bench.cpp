// Rows of the attention maps (attune/probe/attention_map.hpp, score/key_log_bias.hpp) in
// attune_bench, at a text-to-image cross-attention shape (Stable Diffusion's 64×64 latent over
// CLIP's 77 text tokens): B 1, H 8, Lq 4096, Lk 77, D 64, fp32, no mask.
//   maps/cross/plain/Lq:4096/Lk:77       attune::attention with an LSE output (the baseline)
//   maps/cross/map_mean/Lq:4096/Lk:77    the same, then map_attention writing the mean map over the
//                                        8 heads, every query row: [4096][77] floats
//   maps/cross/map_head/Lq:4096/Lk:77    the same, the map of head 0 only
//   maps/cross/key_bias/Lq:4096/Lk:77    attention with key_log_bias (text tokens 4–6 scaled by 5)
//   maps/cross/blend/Lq:4096/Lk:77       attention, then blend_map of a given [4096][77] map, α 0.5, all heads
// Counters: "flops" credits every row with the plain pass's FLOPs (4·d per pair and head), so
// flops ratios are inverse time ratios; "bytes": the plain pass's Q, K, V and output bytes.
#include <string>
#include <vector>

#include "../support.hpp"
#include "attune/attune.hpp"

namespace {

using namespace attune_bench;

enum class mode { plain, map_mean, map_head, key_bias, blend };

constexpr index_t H = 8, LQ = 4096, LK = 77, D = 64;

void bm_maps(benchmark::State& state, mode m) {
    const int threads = static_cast<int>(state.range(0));
    executor exec;
    if (!make_executor(state, threads, exec)) return;
    const aligned_vector<float> q = random_vector<float>(static_cast<std::size_t>(H * LQ * D), 1);
    const aligned_vector<float> k = random_vector<float>(static_cast<std::size_t>(H * LK * D), 2);
    const aligned_vector<float> v = random_vector<float>(static_cast<std::size_t>(H * LK * D), 3);
    aligned_vector<float> out(static_cast<std::size_t>(H * LQ * D)), lse(static_cast<std::size_t>(H * LQ));
    aligned_vector<float> map(static_cast<std::size_t>(LQ * LK), 1.0f / static_cast<float>(LK));
    const auto qv = attune::view_bhld(q.data(), 1, H, LQ, D);
    const auto kv = attune::view_bhld(k.data(), 1, H, LK, D), vv = attune::view_bhld(v.data(), 1, H, LK, D);
    const auto ov = attune::view_bhld(out.data(), 1, H, LQ, D);
    const auto mv = attune::view_bhld(map.data(), 1, 1, LQ, LK);
    attune::options opt;
    opt.lse = attune::lse_view(lse.data(), 1, H, LQ);
    attune::map_options mean, head;
    mean.reduce = attune::map_reduce::mean;
    head.heads = {0};
    const auto steer =
        attune::variant<attune::no_mask, attune::key_log_bias>(attune::no_mask{}, attune::key_log_bias::scale_keys(LK, {4, 5, 6}, 5.0f));
    auto call = [&] {
        if (m == mode::key_bias) return attune::attention(qv, kv, vv, ov, steer, opt, exec);
        attune::attention(qv, kv, vv, ov, attune::variant<>{}, opt, exec);
        const attune::tensor_view<const float> l(opt.lse);
        if (m == mode::map_mean) attune::map_attention(qv, kv, l, mv, attune::variant<>{}, mean, exec);
        if (m == mode::map_head) attune::map_attention(qv, kv, l, mv, attune::variant<>{}, head, exec);
        if (m == mode::blend) attune::blend_map(ov, vv, attune::tensor_view<const float>(mv), 0.5f, {}, exec);
    };
    call();
    for (auto _ : state) {
        call();
        benchmark::DoNotOptimize(out.data());
        benchmark::DoNotOptimize(map.data());
        benchmark::ClobberMemory();
    }
    set_counters(state, 4.0 * static_cast<double>(H * LQ * LK * D), 4.0 * static_cast<double>(2 * H * LQ * D + 2 * H * LK * D));
}

void register_maps(const std::vector<int>& threads) {
    const std::string shape = "/Lq:4096/Lk:77";
    add("maps/cross/plain" + shape, threads, bm_maps, mode::plain);
    add("maps/cross/map_mean" + shape, threads, bm_maps, mode::map_mean);
    add("maps/cross/map_head" + shape, threads, bm_maps, mode::map_head);
    add("maps/cross/key_bias" + shape, threads, bm_maps, mode::key_bias);
    add("maps/cross/blend" + shape, threads, bm_maps, mode::blend);
}

ATTUNE_BENCH_ROWS(register_maps);

}  // namespace
