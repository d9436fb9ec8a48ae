// Thread safety, built once per SIMD arch (ATTUNE_TEST_ARCH): the same kernels called concurrently
// from several user threads, each on its own data, give bit for bit the results of the same calls
// made one at a time. The calls share variant objects (masks with shared id tables, ALiBi slopes,
// sink logits), use every executor (serial, OpenMP from several user threads at once, a user
// thread pool per caller) and split keys, so per-thread scratch (thread_local), the split partials
// and lazily initialised statics (haddp lane order) are all exercised across threads.
// Under ThreadSanitizer the same test reports any data race it meets.
#include <algorithm>
#include <atomic>
#include <limits>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "attune/linear.hpp"
#include "attune/mask/masks.hpp"
#include "support.hpp"

#ifndef ATTUNE_TEST_ARCH
#error "ATTUNE_TEST_ARCH must name the arch type the kernels are instantiated with"
#endif

using attune::index_t;
using namespace attune_test;
using arch = ATTUNE_TEST_ARCH;

namespace {

enum class exec_kind { serial, openmp, pool };

struct config {
    const char* name;
    index_t Hq, Hkv, Lq, Lk, D;
    exec_kind exec;
    index_t splits;
};

// One caller's problem: inputs, its own output and LSE, and the serial result to match.
struct job {
    config cfg;
    tensor<float> q, k, v, out;
    lse_buffer lse;
    std::vector<float> expect_out, expect_lse;
    std::unique_ptr<thread_pool> pool;
    job(const config& c, std::uint32_t seed)
        : cfg(c),
          q(1, c.Hq, c.Lq, c.D, layout::blhd, 1),
          k(1, c.Hkv, c.Lk, c.D),
          v(1, c.Hkv, c.Lk, c.D),
          out(1, c.Hq, c.Lq, c.D, layout::bhld, 2),
          lse(1, c.Hq, c.Lq) {
        std::mt19937 rng(seed);
        q.fill_random(rng);
        k.fill_random(rng);
        v.fill_random(rng);
        if (c.exec == exec_kind::pool) pool = std::make_unique<thread_pool>(2);
    }
};

// The variants every caller shares (one object each, used concurrently).
struct shared_variants {
    attune::variant<attune::causal> causal{attune::causal{}};
    attune::variant<attune::document_mask, attune::sink_logit> docs;
    attune::variant<attune::sigmoid, attune::sliding_window, attune::alibi> sig;
    attune::variant<attune::sinks_window, attune::softcap> window{attune::sinks_window(4, 40), attune::softcap(20.0f)};
    shared_variants()
        : docs(attune::document_mask::from_lengths({50, 1, 77, 30, 100, 42}), attune::sink_logit(std::vector<float>(8, 0.5f))),
          sig(attune::sigmoid(-2.0f), attune::sliding_window(60, 5),
              attune::alibi(attune::alibi_slopes(8), attune::alibi_form::symmetric)) {}
};

template <class Var>
void run_one(job& j, const Var& var) {
    attune::options opt;
    if constexpr (attune::as_variant<Var>::type::family_type::has_lse) opt.lse = j.lse.view;
    opt.kv_splits = j.cfg.splits;
    const auto q = j.q.cview(), k = j.k.cview(), v = j.v.cview();
    switch (j.cfg.exec) {
        case exec_kind::serial:
            attune::attention<arch>(q, k, v, j.out.view, var, opt, attune::serial_executor{});
            break;
        case exec_kind::openmp:
            attune::attention<arch>(q, k, v, j.out.view, var, opt, attune::openmp_executor{2});
            break;
        case exec_kind::pool:
            attune::attention<arch>(q, k, v, j.out.view, var, opt, make_pool_executor(*j.pool));
            break;
    }
}

void run_job(job& j, const shared_variants& sv, int which) {
    j.out.poison();
    std::fill(j.lse.data.begin(), j.lse.data.end(), std::numeric_limits<float>::quiet_NaN());
    switch (which % 4) {
        case 0:
            run_one(j, sv.causal);
            break;
        case 1:
            run_one(j, sv.docs);
            break;
        case 2:
            run_one(j, sv.sig);
            break;
        default:
            run_one(j, sv.window);
            break;
    }
}

std::vector<float> out_bits(const job& j) {
    std::vector<float> o(j.out.buf.begin(), j.out.buf.end());
    return o;
}

}  // namespace

TEST_CASE("concurrent calls from user threads equal serial calls, bit for bit", "[stress]") {
    const config configs[] = {
        {"prefill, serial executor", 4, 2, 77, 300, 64, exec_kind::serial, 1},
        {"prefill, OpenMP executor", 8, 2, 130, 300, 32, exec_kind::openmp, 0},
        {"decode, OpenMP executor, automatic splits", 8, 1, 1, 300, 128, exec_kind::openmp, 0},
        {"chunk, user pool, 3 splits", 4, 4, 20, 300, 80, exec_kind::pool, 3},
        {"decode, serial, 5 splits", 8, 2, 2, 300, 64, exec_kind::serial, 5},
        {"prefill, user pool", 2, 1, 300, 300, 48, exec_kind::pool, 0},
    };
    const shared_variants sv;
    constexpr int callers = 6, rounds = 12;
    std::vector<std::unique_ptr<job>> jobs;
    for (int t = 0; t < callers; ++t) jobs.push_back(std::make_unique<job>(configs[t], 100u + static_cast<std::uint32_t>(t)));

    // Expected: each caller's calls one at a time, from this thread. Each round uses variant
    // (t + round) % 4, so expected results are per (caller, variant).
    std::vector<std::vector<std::vector<float>>> expect(callers, std::vector<std::vector<float>>(4));
    std::vector<std::vector<std::vector<float>>> expect_lse(callers, std::vector<std::vector<float>>(4));
    for (int t = 0; t < callers; ++t)
        for (int w = 0; w < 4; ++w) {
            run_job(*jobs[static_cast<std::size_t>(t)], sv, w);
            expect[static_cast<std::size_t>(t)][static_cast<std::size_t>(w)] = out_bits(*jobs[static_cast<std::size_t>(t)]);
            expect_lse[static_cast<std::size_t>(t)][static_cast<std::size_t>(w)] = jobs[static_cast<std::size_t>(t)]->lse.data;
        }

    std::atomic<int> mismatches{0}, errors{0};
    std::vector<std::string> first(callers);
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < callers; ++t)
        threads.emplace_back([&, t] {
            while (!go.load()) std::this_thread::yield();
            job& j = *jobs[static_cast<std::size_t>(t)];
            for (int r = 0; r < rounds; ++r) {
                const int w = (t + r) % 4;
                try {
                    run_job(j, sv, w);
                } catch (const std::exception& e) {
                    ++errors;
                    first[static_cast<std::size_t>(t)] = e.what();
                    return;
                }
                const auto& e = expect[static_cast<std::size_t>(t)][static_cast<std::size_t>(w)];
                const auto& el = expect_lse[static_cast<std::size_t>(t)][static_cast<std::size_t>(w)];
                // Compare bits (NaN padding included: memcmp, not ==).
                const bool same_out = std::memcmp(e.data(), j.out.buf.data(), e.size() * sizeof(float)) == 0;
                const bool same_lse = std::memcmp(el.data(), j.lse.data.data(), el.size() * sizeof(float)) == 0;
                if (!same_out || !same_lse) {
                    if (mismatches++ == 0 || first[static_cast<std::size_t>(t)].empty())
                        first[static_cast<std::size_t>(t)] = std::string(j.cfg.name) + ", variant " + std::to_string(w) + ", round " +
                                                             std::to_string(r) + (same_out ? "" : ": output differs") +
                                                             (same_lse ? "" : ": LSE differs");
                }
            }
        });
    go = true;
    for (auto& th : threads) th.join();
    for (int t = 0; t < callers; ++t)
        if (!first[static_cast<std::size_t>(t)].empty()) UNSCOPED_INFO("caller " << t << ": " << first[static_cast<std::size_t>(t)]);
    CHECK(errors == 0);
    CHECK(mismatches == 0);
    // The serial results are right, too (so equal means correct).
    for (int t = 0; t < callers; ++t) {
        job& j = *jobs[static_cast<std::size_t>(t)];
        run_job(j, sv, 0);
        CAPTURE(j.cfg.name);
        check_against_reference(j.out, attune::reference::attention(j.q.cview(), j.k.cview(), j.v.cview(), sv.causal), fp32_tolerance(),
                                &j.lse);
    }
}

namespace {

// A mask that throws for one query row: every caller's exception must reach that caller alone.
struct rejecting_mask {
    using policy_kind = attune::mask_kind;
    [[maybe_unused]] static constexpr bool is_none = false;  // masks need not declare it (clang: unused)
    index_t bad_row;
    bool visible(const attune::index_context& c) const {
        if (c.q_pos == bad_row) throw attune::error("attune: rejecting_mask: row " + std::to_string(c.q_pos));
        return c.k_pos <= c.q_pos;
    }
    attune::tile_class classify(const attune::tile_context&) const { return attune::tile_class::partial; }
};

}  // namespace

TEST_CASE("separate caches and states on separate threads, and exceptions thrown on several threads at once", "[stress]") {
    // What the README allows: one cache (kv_cache, streaming_cache, linear::state) per thread,
    // used concurrently with other threads' own caches; each thread's results equal the same steps
    // made alone. Meanwhile other threads make calls that throw from inside the parallel region:
    // each gets its own exception, and the caches of the others are untouched.
    constexpr int threads_n = 4, steps = 24;
    constexpr index_t H = 2, D = 16;
    std::vector<tensor<float>> q, k, v;
    std::mt19937 rng(5);
    for (int s = 0; s < steps; ++s) {
        q.emplace_back(1, H, 1, D), k.emplace_back(1, H, 1, D), v.emplace_back(1, H, 1, D);
        q.back().fill_random(rng), k.back().fill_random(rng), v.back().fill_random(rng);
    }
    // Each thread runs one kind of cache over the same token stream; its output rows, bit for bit.
    auto run_stream = [&](int kind, std::vector<float>& rows) {
        attune::kv_cache<float> kv(H, D, D);
        attune::streaming_cache<float> sc(H, D, D, 2, 7);
        attune::linear::state st(1, H, D, D);
        tensor<float> out(1, H, 1, D);
        for (int s = 0; s < steps; ++s) {
            const auto& qs = q[static_cast<std::size_t>(s)];
            if (kind == 0) {
                kv.append(k[static_cast<std::size_t>(s)].cview(), v[static_cast<std::size_t>(s)].cview());
                attune::attention<arch>(qs.cview(), kv.keys(), kv.values(), out.view, attune::causal{}, {}, attune::openmp_executor{2});
            } else if (kind == 1) {
                sc.step<arch>(qs.cview(), k[static_cast<std::size_t>(s)].cview(), v[static_cast<std::size_t>(s)].cview(), out.view);
            } else {
                attune::linear::step<arch>(qs.cview(), k[static_cast<std::size_t>(s)].cview(), v[static_cast<std::size_t>(s)].cview(),
                                           out.view, st);
            }
            rows.insert(rows.end(), out.buf.begin(), out.buf.end());
        }
    };
    std::vector<std::vector<float>> alone(3);
    for (int kind = 0; kind < 3; ++kind) run_stream(kind, alone[static_cast<std::size_t>(kind)]);

    std::vector<std::vector<float>> together(threads_n);
    std::atomic<int> caught{0}, wrong{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < threads_n; ++t)
        threads.emplace_back([&, t] {
            while (!go.load()) std::this_thread::yield();
            if (t < 3) {
                run_stream(t, together[static_cast<std::size_t>(t)]);
                return;
            }
            tensor<float> qq(1, 4, 90, D), kk(1, 2, 90, D), vv(1, 2, 90, D), oo(1, 4, 90, D);
            for (int r = 0; r < 6; ++r) {
                const index_t bad = 40 + r;
                try {
                    attune::attention<arch>(qq.cview(), kk.cview(), vv.cview(), oo.view, rejecting_mask{bad}, {},
                                            attune::openmp_executor{2});
                    ++wrong;
                } catch (const attune::error& e) {
                    if (std::string(e.what()).find("row " + std::to_string(bad)) != std::string::npos) ++caught;
                    else ++wrong;
                }
            }
        });
    go = true;
    for (auto& th : threads) th.join();
    CHECK(caught == 6);
    CHECK(wrong == 0);
    for (int kind = 0; kind < 3; ++kind) {
        CAPTURE(kind);
        const auto& a = alone[static_cast<std::size_t>(kind)];
        const auto& b = together[static_cast<std::size_t>(kind)];
        REQUIRE(a.size() == b.size());
        CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
    }
}
