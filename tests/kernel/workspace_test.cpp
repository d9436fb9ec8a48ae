// attune::workspace: a call that leases its buffers from a caller-owned workspace computes exactly
// what the same call on the threads' own buffers computes, on every executor and work split; the
// workspace reports and frees what it holds, and refuses to be emptied under a running call.
#include <atomic>
#include <cstring>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "attune/attune.hpp"
#include "support.hpp"

namespace {

using attune::index_t;

struct problem_data {
    index_t B, Hq, Hkv, Lq, Lk, D;
    std::vector<float> q, k, v;
    problem_data(index_t b, index_t hq, index_t hkv, index_t lq, index_t lk, index_t d)
        : B(b), Hq(hq), Hkv(hkv), Lq(lq), Lk(lk), D(d), q(b * hq * lq * d), k(b * hkv * lk * d), v(b * hkv * lk * d) {
        std::mt19937 gen(11);
        std::normal_distribution<float> dist;
        for (auto* x : {&q, &k, &v})
            for (auto& e : *x) e = dist(gen);
    }
    template <class Var, class Exec>
    std::vector<float> run(const Var& var, const Exec& exec, attune::workspace* ws, index_t splits = 0) const {
        std::vector<float> out(static_cast<std::size_t>(B * Hq * Lq * D)), lse(static_cast<std::size_t>(B * Hq * Lq));
        attune::options opt;
        opt.workspace = ws;
        opt.kv_splits = splits;
        opt.lse = attune::lse_view(lse.data(), B, Hq, Lq);
        attune::attention(attune::view_bhld<const float>(q.data(), B, Hq, Lq, D), attune::view_bhld<const float>(k.data(), B, Hkv, Lk, D),
                          attune::view_bhld<const float>(v.data(), B, Hkv, Lk, D), attune::view_bhld(out.data(), B, Hq, Lq, D), var, opt,
                          exec);
        out.insert(out.end(), lse.begin(), lse.end());
        return out;
    }
};

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

TEST_CASE("a workspace gives the same result as the threads' own buffers", "[workspace]") {
    attune::workspace ws;
    for (const index_t lq : {1, 7, 65, 129})
        for (const index_t splits : {0, 1, 3}) {
            const problem_data d(2, 8, 2, lq, lq + 200, 64);
            INFO("Lq " << lq << ", splits " << splits);
            CHECK(same_bits(d.run(attune::causal{}, attune::serial_executor{}, &ws, splits),
                            d.run(attune::causal{}, attune::serial_executor{}, nullptr, splits)));
            CHECK(same_bits(d.run(attune::sliding_window(32, 0), attune::openmp_executor{2}, &ws, splits),
                            d.run(attune::sliding_window(32, 0), attune::openmp_executor{2}, nullptr, splits)));
            attune_test::thread_pool threads(2);
            const auto pool = attune_test::make_pool_executor(threads);
            CHECK(same_bits(d.run(attune::sinks_window(4, 40), pool, &ws, splits),
                            d.run(attune::sinks_window(4, 40), pool, nullptr, splits)));
        }
}

TEST_CASE("a workspace reports and frees what it holds", "[workspace]") {
    attune::workspace ws;
    CHECK(ws.bytes() == 0);
    const problem_data d(1, 4, 4, 33, 300, 32);
    // Serial: one item at a time, so one set of buffers (with threads, as many sets as items ran
    // at once, which varies from call to call).
    const auto first = d.run(attune::causal{}, attune::serial_executor{}, &ws, 2);
    const std::size_t held = ws.bytes();
    CHECK(held > 0);
    // The same call again needs no more.
    CHECK(same_bits(d.run(attune::causal{}, attune::serial_executor{}, &ws, 2), first));
    CHECK(ws.bytes() == held);
    CHECK(same_bits(d.run(attune::causal{}, attune::openmp_executor{2}, &ws, 2), first));
    ws.release();
    CHECK(ws.bytes() == 0);
    CHECK(same_bits(d.run(attune::causal{}, attune::openmp_executor{2}, &ws, 2), first));
}

namespace {
// A router that, from inside a work item, empties the workspace the call is using (or the
// calling thread's own buffers): a misuse that must be refused, not free memory under the item.
struct releasing_router {
    using policy_kind = attune::router_kind;
    attune::workspace* ws;
    mutable std::atomic<int>* calls;
    float gate(const attune::row_context&) const {
        if (calls->fetch_add(1) == 0) {
            if (ws != nullptr) ws->release();
            else attune::release_thread_buffers();
        }
        return 1.0f;
    }
};
}  // namespace

TEST_CASE("a workspace cannot be emptied under a running call", "[workspace]") {
    const problem_data d(1, 4, 4, 16, 64, 32);
    attune::workspace ws;
    std::atomic<int> calls{0};
    CHECK_THROWS_WITH(d.run(attune::variant(attune::causal{}, releasing_router{&ws, &calls}), attune::serial_executor{}, &ws),
                      Catch::Contains("workspace::release: a call is using this workspace"));
    calls = 0;
    CHECK_THROWS_WITH(d.run(attune::variant(attune::causal{}, releasing_router{nullptr, &calls}), attune::serial_executor{}, nullptr),
                      Catch::Contains("release_thread_buffers: called from inside a work item"));
    // Both still work afterwards, and the thread's buffers can be freed between calls.
    const auto ref = d.run(attune::causal{}, attune::serial_executor{}, nullptr);
    attune::release_thread_buffers();
    CHECK(same_bits(d.run(attune::causal{}, attune::serial_executor{}, &ws), ref));
    CHECK(same_bits(d.run(attune::causal{}, attune::serial_executor{}, nullptr), ref));
    // The failed calls gave every leased set back (the items' leases are released on the throw).
    CHECK_NOTHROW(ws.release());
    CHECK(ws.bytes() == 0);
}

namespace {
// A router whose gates come from another attention call on the same workspace, made from inside a
// work item of the outer call: the inner items must lease sets of their own.
struct nested_router {
    using policy_kind = attune::router_kind;
    const problem_data* d;
    attune::workspace* ws;
    float gate(const attune::row_context& r) const {
        const auto inner = d->run(attune::causal{}, attune::serial_executor{}, ws);
        return inner[static_cast<std::size_t>(r.q_head)] > -100.0f ? 1.0f : 0.0f;  // always 1: finite outputs
    }
};
}  // namespace

TEST_CASE("calls nested inside a work item lease their own sets", "[workspace]") {
    const problem_data d(1, 4, 2, 9, 40, 32);
    attune::workspace ws;
    const auto plain = d.run(attune::causal{}, attune::openmp_executor{2}, nullptr);
    CHECK(same_bits(d.run(attune::variant(attune::causal{}, nested_router{&d, &ws}), attune::openmp_executor{2}, &ws), plain));
    CHECK(same_bits(d.run(attune::variant(attune::causal{}, nested_router{&d, nullptr}), attune::openmp_executor{2}, nullptr), plain));
}
