// The strong exception guarantee of every cache (issue 19): for each cache type and each bad call
// we can think of — bad options (kv_splits, scale, the LSE view), outputs overlapping inputs, the
// cache's own storage or themselves, wrong shapes, null data, exhausted capacity, an executor that
// throws (before running anything or after half of its items, at each of the call's parallel
// regions in turn) — the call must throw (attune::error, or the executor's own exception), leave
// the cache's whole observable state bit-identical (bytes of its views, sizes, positions, scores,
// landmarks, selections), and the next valid call must give the bytes a cache that never saw the
// bad call gives.
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "attune/cache.hpp"
#include "attune/cache/duo_cache.hpp"
#include "support.hpp"

#ifndef ATTUNE_TEST_ARCH
#error "ATTUNE_TEST_ARCH must name the arch type the kernels are instantiated with"
#endif

using attune::index_t;
using attune_test::tensor;
using arch = ATTUNE_TEST_ARCH;

namespace {

constexpr index_t hkv = 2, hq = 4, dk = 16, dv = 8;

// The user's own exception, thrown by a failing executor.
struct user_failure : std::runtime_error {
    user_failure() : std::runtime_error("user pool failed") {}
};

// A pool that throws at its `fail_at`-th region: before running anything, or after half the items.
attune::pool_executor failing_pool(int fail_at, bool after_half) {
    auto calls = std::make_shared<int>(0);
    return attune::pool_executor(2, [calls, fail_at, after_half](index_t n, const attune::pool_executor::body_type& body) {
        const bool fail = ++*calls == fail_at;
        if (fail && !after_half) throw user_failure();
        for (index_t i = 0; i < (fail ? n / 2 : n); ++i) body(i);
        if (fail) throw user_failure();
    });
}

// The observable state as bytes.
struct snapshot {
    std::vector<unsigned char> b;
    void raw(const void* p, std::size_t n) {
        const auto* c = static_cast<const unsigned char*>(p);
        b.insert(b.end(), c, c + n);
    }
    template <class X>
    void value(const X& x) {
        raw(&x, sizeof(X));
    }
    template <class T>
    void view(const attune::tensor_view<const T>& v) {
        for (int i = 0; i < 4; ++i) value(v.shape()[static_cast<std::size_t>(i)]);
        for (index_t h = 0; h < v.heads(); ++h)
            for (index_t t = 0; t < v.tokens(); ++t) raw(v.row(0, h, t), static_cast<std::size_t>(v.dim()) * sizeof(T));
    }
    bool operator==(const snapshot& o) const { return b == o.b; }
};

template <class T>
snapshot snap(const attune::kv_cache<T>& c) {
    snapshot s;
    s.value(c.tokens());
    s.value(c.max_tokens());
    s.view(c.keys());
    s.view(c.values());
    return s;
}
template <class T>
snapshot snap(const attune::streaming_cache<T>& c) {
    snapshot s;
    s.value(c.seen());
    s.value(c.size());
    s.view(c.keys());
    s.view(c.values());
    for (index_t i = 0; i < c.size(); ++i) s.value(c.position(i)), s.value(c.cache_position(i));
    return s;
}
template <class T>
snapshot snap(const attune::h2o_cache<T>& c) {
    snapshot s;
    s.value(c.seen());
    s.value(c.size());
    s.view(c.keys());
    s.view(c.values());
    for (index_t h = 0; h < c.heads(); ++h)
        for (index_t i = 0; i < c.size(); ++i) s.value(c.position(h, i)), s.value(c.score(h, i));
    return s;
}
template <class T>
snapshot snap(const attune::duo_cache<T>& c) {
    snapshot s;
    s.value(c.seen());
    for (index_t h = 0; h < c.kv_heads(); ++h) {
        const snapshot sub = c.streaming(h) ? snap(c.streaming_cache_of(h)) : snap(c.retrieval_cache(h));
        s.raw(sub.b.data(), sub.b.size());
    }
    return s;
}
template <class T>
snapshot snap(const attune::landmark_cache<T>& c) {
    snapshot s = snap(c.kv());
    s.value(c.blocks());
    for (index_t b = 0; b < c.blocks(); ++b)
        for (index_t h = 0; h < c.heads(); ++h) s.raw(c.landmark(h, b), static_cast<std::size_t>(dk) * sizeof(float));
    s.raw(c.selected().data(), c.selected().size() * sizeof(index_t));
    return s;
}

// One call's inputs: q [1, hq, n, dk], chunk k, v, out, a fitting LSE.
struct call {
    tensor<float> q, k, v, out;
    attune_test::lse_buffer lse;
    call(index_t n, std::uint32_t seed) : q(1, hq, n, dk), k(1, hkv, n, dk), v(1, hkv, n, dv), out(1, hq, n, dv), lse(1, hq, n) {
        std::mt19937 rng(seed);
        q.fill_random(rng);
        k.fill_random(rng);
        v.fill_random(rng);
        out.poison();
    }
};

template <class T>
float* storage_of(const attune::streaming_cache<T>& c) {
    return const_cast<float*>(reinterpret_cast<const float*>(c.keys().data()));
}
template <class T>
float* storage_of(const attune::h2o_cache<T>& c) {
    return const_cast<float*>(reinterpret_cast<const float*>(c.keys().data()));
}
template <class T>
float* storage_of(const attune::duo_cache<T>& c) {
    return const_cast<float*>(reinterpret_cast<const float*>(c.retrieval_cache(1).keys().data()));
}

// The caches with step(q, k, v, out, opt, exec), each made with a history whose ring has wrapped.
template <class T>
struct streaming_driver {
    using cache = attune::streaming_cache<T>;
    static const char* name() { return "streaming_cache"; }
    static std::unique_ptr<cache> make() { return warm(std::make_unique<cache>(hkv, dk, dv, 2, 5)); }
    template <class C>
    static std::unique_ptr<C> warm(std::unique_ptr<C> c) {
        for (std::uint32_t s = 0; s < 4; ++s) {
            call in(s == 1 ? 1 : 3, 100 + s);
            c->template step<arch>(in.q.cview(), in.k.cview(), in.v.cview(), in.out.view, {}, attune::serial_executor{});
        }
        return c;
    }
};
template <class T>
struct h2o_driver {
    using cache = attune::h2o_cache<T>;
    static const char* name() { return "h2o_cache"; }
    static std::unique_ptr<cache> make() { return streaming_driver<T>::warm(std::make_unique<cache>(hkv, dk, dv, 2, 3)); }
};
template <class T>
struct duo_driver {
    using cache = attune::duo_cache<T>;
    static const char* name() { return "duo_cache"; }
    static std::unique_ptr<cache> make() {
        return streaming_driver<T>::warm(std::make_unique<cache>(std::vector<bool>{true, false}, hq, dk, dv, 2, 5));
    }
};

// Checks one bad call on a fresh cache against an untouched twin.
template <class Cache, class Bad, class Good>
void check_intact(const std::function<std::unique_ptr<Cache>()>& make, const Bad& bad, const Good& good, bool may_succeed = false,
                  bool* succeeded = nullptr) {
    auto a = make(), b = make();
    bool threw = false;
    try {
        bad(*a);
    } catch (const attune::error&) {
        threw = true;
    } catch (const user_failure&) {
        threw = true;
    }
    if (succeeded != nullptr) *succeeded = !threw;
    if (!threw) {
        CHECK(may_succeed);
        return;
    }
    REQUIRE(snap(*a) == snap(*b));
    // The next valid call: the same bytes out, the same state after.
    std::vector<float> out_a, out_b;
    good(*a, out_a);
    good(*b, out_b);
    CHECK(out_a.size() == out_b.size());
    CHECK(std::memcmp(out_a.data(), out_b.data(), out_a.size() * sizeof(float)) == 0);
    CHECK(snap(*a) == snap(*b));
}

std::vector<float> bytes_of(const tensor<float>& t) { return std::vector<float>(t.buf.begin(), t.buf.end()); }

// Every bad call of a step, for chunks of n tokens.
template <class D>
void step_battery(index_t n) {
    using cache = typename D::cache;
    using T = typename cache::value_type;
    INFO(D::name() << "<" << attune::storage_name<T>() << ">, chunk of " << n);
    const std::function<std::unique_ptr<cache>()> make = [] { return D::make(); };
    auto good = [n](cache& c, std::vector<float>& out) {
        for (std::uint32_t s = 0; s < 2; ++s) {  // two steps: the bad call must not show up later either
            call in(s == 0 ? n : 1, 500 + s);
            c.template step<arch>(in.q.cview(), in.k.cview(), in.v.cview(), in.out.view, {}, attune::serial_executor{});
            const auto b = bytes_of(in.out);
            out.insert(out.end(), b.begin(), b.end());
        }
    };
    using opt_fn = std::function<void(call&, attune::options&)>;
    auto with = [](const opt_fn& f) {
        return [f](cache& c, call& in) {
            attune::options opt;
            f(in, opt);
            c.template step<arch>(in.q.cview(), in.k.cview(), in.v.cview(), in.out.view, opt, attune::serial_executor{});
        };
    };
    using any_fn = std::function<void(cache&, call&)>;
    std::vector<std::pair<std::string, any_fn>> bad = {
        {"kv_splits -1", with([](call&, attune::options& o) { o.kv_splits = -1; })},
        {"scale NaN", with([](call&, attune::options& o) { o.scale = std::numeric_limits<float>::quiet_NaN(); })},
        {"scale -1", with([](call&, attune::options& o) { o.scale = -1.0f; })},
        {"scale inf", with([](call&, attune::options& o) { o.scale = std::numeric_limits<float>::infinity(); })},
        {"lse of the wrong shape", with([](call& in, attune::options& o) {
             static std::vector<float> l(64);
             o.lse = attune::lse_view(l.data(), 1, hq, in.q.view.tokens() + 1);
         })},
        {"lse overlapping out",
         with([](call& in, attune::options& o) { o.lse = attune::lse_view(in.out.buf.data(), 1, hq, in.q.view.tokens()); })},
        {"lse overlapping q",
         with([](call& in, attune::options& o) { o.lse = attune::lse_view(in.q.buf.data(), 1, hq, in.q.view.tokens()); })},
        {"out overlapping q",
         [](cache& c, call& in) {
             attune::tensor_view<float> o(in.q.buf.data(), {1, hq, in.q.view.tokens(), dv}, in.q.view.strides());
             c.template step<arch>(in.q.cview(), in.k.cview(), in.v.cview(), o, {}, attune::serial_executor{});
         }},
        {"out overlapping k",
         [](cache& c, call& in) {
             attune::tensor_view<float> o(in.k.buf.data(), {1, hq, in.q.view.tokens(), dv}, {0, in.q.view.tokens() * dv, dv});
             c.template step<arch>(in.q.cview(), in.k.cview(), in.v.cview(), o, {}, attune::serial_executor{});
         }},
        {"out overlapping itself",
         [](cache& c, call& in) {
             attune::tensor_view<float> o(in.out.buf.data(), {1, hq, in.q.view.tokens(), dv}, {0, 0, dv});
             c.template step<arch>(in.q.cview(), in.k.cview(), in.v.cview(), o, {}, attune::serial_executor{});
         }},
        {"q of the wrong dim",
         [](cache& c, call& in) {
             tensor<float> q(1, hq, in.q.view.tokens(), dk + 1);
             c.template step<arch>(q.cview(), in.k.cview(), in.v.cview(), in.out.view, {}, attune::serial_executor{});
         }},
        {"q heads not a multiple",
         [](cache& c, call& in) {
             tensor<float> q(1, 3, in.q.view.tokens(), dk), o(1, 3, in.q.view.tokens(), dv);
             c.template step<arch>(q.cview(), in.k.cview(), in.v.cview(), o.view, {}, attune::serial_executor{});
         }},
        {"k with too many heads",
         [](cache& c, call& in) {
             tensor<float> k(1, hkv + 1, in.q.view.tokens(), dk);
             c.template step<arch>(in.q.cview(), k.cview(), in.v.cview(), in.out.view, {}, attune::serial_executor{});
         }},
        {"v of the wrong dim",
         [](cache& c, call& in) {
             tensor<float> v(1, hkv, in.q.view.tokens(), dv + 1);
             c.template step<arch>(in.q.cview(), in.k.cview(), v.cview(), in.out.view, {}, attune::serial_executor{});
         }},
        {"q tokens differ from the chunk's",
         [](cache& c, call& in) {
             tensor<float> q(1, hq, in.q.view.tokens() + 1, dk), o(1, hq, in.q.view.tokens() + 1, dv);
             c.template step<arch>(q.cview(), in.k.cview(), in.v.cview(), o.view, {}, attune::serial_executor{});
         }},
        {"out of the wrong shape",
         [](cache& c, call& in) {
             tensor<float> o(1, hq, in.q.view.tokens(), dv + 1);
             c.template step<arch>(in.q.cview(), in.k.cview(), in.v.cview(), o.view, {}, attune::serial_executor{});
         }},
        {"k with null data",
         [](cache& c, call& in) {
             attune::tensor_view<const float> k(nullptr, {1, hkv, in.q.view.tokens(), dk}, in.k.view.strides());
             c.template step<arch>(in.q.cview(), k, in.v.cview(), in.out.view, {}, attune::serial_executor{});
         }},
        {"a chunk of batch 2",
         [](cache& c, call& in) {
             tensor<float> k(2, hkv, in.q.view.tokens(), dk), v(2, hkv, in.q.view.tokens(), dv);
             c.template step<arch>(in.q.cview(), k.cview(), v.cview(), in.out.view, {}, attune::serial_executor{});
         }},
    };
    if constexpr (std::is_same_v<T, float>) {
        bad.push_back({"out overlapping the cache's storage", [](cache& c, call& in) {
                           attune::tensor_view<float> o(storage_of(c), {1, hq, in.q.view.tokens(), dv}, {0, in.q.view.tokens() * dv, dv});
                           c.template step<arch>(in.q.cview(), in.k.cview(), in.v.cview(), o, {}, attune::serial_executor{});
                       }});
        bad.push_back({"q overlapping the cache's storage", [](cache& c, call& in) {
                           attune::tensor_view<const float> q(storage_of(c), {1, hq, in.q.view.tokens(), dk}, {0, 0, dk});
                           c.template step<arch>(q, in.k.cview(), in.v.cview(), in.out.view, {}, attune::serial_executor{});
                       }});
        bad.push_back({"k overlapping the cache's storage", [](cache& c, call& in) {
                           attune::tensor_view<const float> k(storage_of(c), {1, hkv, in.q.view.tokens(), dk}, {0, 0, dk});
                           c.template step<arch>(in.q.cview(), k, in.v.cview(), in.out.view, {}, attune::serial_executor{});
                       }});
    }
    for (const auto& [what, fn] : bad) {
        INFO("bad call: " << what);
        call in(n, 7);
        check_intact<cache>(
            make, [&, f = fn](cache& c) { f(c, in); }, good);
    }
    // A throwing executor at each of the call's parallel regions in turn, before or after half its items.
    for (bool after_half : {false, true})
        for (int at = 1; at <= 16; ++at) {
            INFO("executor throwing at region " << at << (after_half ? " after half its items" : ""));
            call in(n, 9);
            bool succeeded = false;
            check_intact<cache>(
                make,
                [&](cache& c) {
                    c.template step<arch>(in.q.cview(), in.k.cview(), in.v.cview(), in.out.view, {}, failing_pool(at, after_half));
                },
                good, true, &succeeded);
            if (succeeded) break;  // the call has fewer regions than `at`
            CHECK(at < 16);
        }
}

template <class T>
void lse_on_storage_case() {
    // The LSE written into the cache's storage (float caches, where the storage can hold floats).
    const std::function<std::unique_ptr<attune::streaming_cache<T>>()> make = [] { return streaming_driver<T>::make(); };
    call in(1, 3);
    check_intact<attune::streaming_cache<T>>(
        make,
        [&](attune::streaming_cache<T>& c) {
            attune::options o;
            o.lse = attune::lse_view(storage_of(c), 1, hq, 1);
            c.template step<arch>(in.q.cview(), in.k.cview(), in.v.cview(), in.out.view, o, attune::serial_executor{});
        },
        [](attune::streaming_cache<T>& c, std::vector<float>& out) {
            call g(1, 11);
            c.template step<arch>(g.q.cview(), g.k.cview(), g.v.cview(), g.out.view, {}, attune::serial_executor{});
            out = bytes_of(g.out);
        });
}

// kv_cache: append only; its bad calls are shapes, capacity and ranges.
template <class T>
void kv_battery() {
    INFO("kv_cache<" << attune::storage_name<T>() << ">");
    using cache = attune::kv_cache<T>;
    const std::function<std::unique_ptr<cache>()> make = [] {
        auto c = std::make_unique<cache>(hkv, dk, dv, 20);
        call in(10, 1);
        c->append(in.k.cview(), in.v.cview());
        return c;
    };
    auto good = [](cache& c, std::vector<float>& out) {
        call in(3, 2);
        c.append(in.k.cview(), in.v.cview());
        attune::attention<arch>(in.q.cview(), c.keys(), c.values(), in.out.view, attune::causal{}, {}, attune::serial_executor{});
        out = bytes_of(in.out);
    };
    std::vector<std::pair<std::string, std::function<void(cache&)>>> bad = {
        {"capacity exceeded",
         [](cache& c) {
             call in(11, 3);
             c.append(in.k.cview(), in.v.cview());
         }},
        {"k with too many heads",
         [](cache& c) {
             tensor<float> k(1, hkv + 1, 2, dk), v(1, hkv + 1, 2, dv);
             c.append(k.cview(), v.cview());
         }},
        {"k of the wrong dim",
         [](cache& c) {
             tensor<float> k(1, hkv, 2, dk + 1), v(1, hkv, 2, dv);
             c.append(k.cview(), v.cview());
         }},
        {"v of the wrong dim",
         [](cache& c) {
             tensor<float> k(1, hkv, 2, dk), v(1, hkv, 2, dv - 1);
             c.append(k.cview(), v.cview());
         }},
        {"k and v token counts differ",
         [](cache& c) {
             tensor<float> k(1, hkv, 2, dk), v(1, hkv, 3, dv);
             c.append(k.cview(), v.cview());
         }},
        {"null k",
         [](cache& c) {
             tensor<float> v(1, hkv, 2, dv);
             c.append(attune::tensor_view<const float>(nullptr, {1, hkv, 2, dk}, {2 * dk, dk * 2, dk}), v.cview());
         }},
        {"keys past the end", [](cache& c) { (void)c.keys(1, attune::unbounded); }},
        {"values before the start", [](cache& c) { (void)c.values(-1, 2); }},
        {"key_row outside", [](cache& c) { (void)c.key_row(hkv, 0); }},
        {"a chunk too long for memory",
         [](cache& c) {
             const float x = 0;
             const attune::tensor_view<const float> k(&x, {1, hkv, attune::unbounded / 4, dk}, {0, 0, 0});
             const attune::tensor_view<const float> v(&x, {1, hkv, attune::unbounded / 4, dv}, {0, 0, 0});
             attune::kv_cache<T> big(hkv, dk, dv);
             big.append(k, v);  // heads × capacity × dk overflows: an error, nothing allocated
             (void)c;
         }},
    };
    for (const auto& [what, fn] : bad) {
        INFO("bad call: " << what);
        check_intact<cache>(make, fn, good);
    }
}

// landmark_cache: append and attend (whose selected() is state too).
template <class T>
void landmark_battery() {
    INFO("landmark_cache<" << attune::storage_name<T>() << ">");
    using cache = attune::landmark_cache<T>;
    const std::function<std::unique_ptr<cache>()> make = [] {
        auto c = std::make_unique<cache>(hkv, dk, dv, 4, 24);
        call in(14, 1);
        c->append(in.k.cview(), in.v.cview());
        call q(2, 2);
        c->template attend<arch>(q.q.cview(), q.out.view, 2, 3, {}, attune::serial_executor{});
        return c;
    };
    auto good = [](cache& c, std::vector<float>& out) {
        call in(3, 4);
        c.append(in.k.cview(), in.v.cview());
        c.template attend<arch>(in.q.cview(), in.out.view, 2, 3, {}, attune::serial_executor{});
        out = bytes_of(in.out);
    };
    auto attend_with = [](const std::function<void(call&, attune::options&)>& f) {
        return [f](cache& c) {
            call in(3, 5);
            attune::options o;
            f(in, o);
            c.template attend<arch>(in.q.cview(), in.out.view, 2, 3, o, attune::serial_executor{});
        };
    };
    std::vector<std::pair<std::string, std::function<void(cache&)>>> bad = {
        {"capacity exceeded",
         [](cache& c) {
             call in(11, 3);
             c.append(in.k.cview(), in.v.cview());
         }},
        {"k of the wrong dim",
         [](cache& c) {
             tensor<float> k(1, hkv, 2, dk + 1), v(1, hkv, 2, dv);
             c.append(k.cview(), v.cview());
         }},
        {"kv_splits -1", attend_with([](call&, attune::options& o) { o.kv_splits = -1; })},
        {"scale NaN", attend_with([](call&, attune::options& o) { o.scale = std::numeric_limits<float>::quiet_NaN(); })},
        {"lse of the wrong shape",
         attend_with([](call& in, attune::options& o) { o.lse = attune::lse_view(in.lse.data.data(), 1, hq, 2); })},
        {"lse overlapping out", attend_with([](call& in, attune::options& o) { o.lse = attune::lse_view(in.out.buf.data(), 1, hq, 3); })},
        {"out overlapping q",
         [](cache& c) {
             call in(3, 5);
             attune::tensor_view<float> o(in.q.buf.data(), {1, hq, 3, dv}, in.q.view.strides());
             c.template attend<arch>(in.q.cview(), o, 2, 3, {}, attune::serial_executor{});
         }},
        {"out overlapping itself",
         [](cache& c) {
             call in(3, 5);
             attune::tensor_view<float> o(in.out.buf.data(), {1, hq, 3, dv}, {0, 0, dv});
             c.template attend<arch>(in.q.cview(), o, 2, 3, {}, attune::serial_executor{});
         }},
        {"top_k -1",
         [](cache& c) {
             call in(3, 5);
             c.template attend<arch>(in.q.cview(), in.out.view, -1, 3, {}, attune::serial_executor{});
         }},
        {"window 0",
         [](cache& c) {
             call in(3, 5);
             c.template attend<arch>(in.q.cview(), in.out.view, 2, 0, {}, attune::serial_executor{});
         }},
        {"more queries than tokens",
         [](cache& c) {
             call in(15, 5);
             c.template attend<arch>(in.q.cview(), in.out.view, 2, 3, {}, attune::serial_executor{});
         }},
        {"top_k × block overflows",
         [](cache& c) {
             call in(3, 5);
             c.template attend<arch>(in.q.cview(), in.out.view, attune::unbounded / 2, 3, {}, attune::serial_executor{});
         }},
    };
    if constexpr (std::is_same_v<T, float>) {
        bad.push_back({"out overlapping the cache's storage", [](cache& c) {
                           call in(3, 5);
                           attune::tensor_view<float> o(const_cast<float*>(c.kv().keys().data()), {1, hq, 3, dv}, {0, 3 * dv, dv});
                           c.template attend<arch>(in.q.cview(), o, 2, 3, {}, attune::serial_executor{});
                       }});
    }
    for (const auto& [what, fn] : bad) {
        INFO("bad call: " << what);
        check_intact<cache>(make, fn, good);
    }
    for (bool after_half : {false, true})
        for (int at = 1; at <= 16; ++at) {
            INFO("executor throwing at region " << at << (after_half ? " after half its items" : ""));
            bool succeeded = false;
            check_intact<cache>(
                make,
                [&](cache& c) {
                    call in(3, 5);
                    c.template attend<arch>(in.q.cview(), in.out.view, 2, 3, {}, failing_pool(at, after_half));
                },
                good, true, &succeeded);
            if (succeeded) break;
            CHECK(at < 16);
        }
}

}  // namespace

TEST_CASE("cache_state: a throwing streaming_cache step leaves the cache as it was", "[cache_state]") {
    for (index_t n : {1, 3}) {
        step_battery<streaming_driver<float>>(n);
        step_battery<streaming_driver<attune::bf16>>(n);
    }
    lse_on_storage_case<float>();
}
TEST_CASE("cache_state: a throwing h2o_cache step leaves the cache as it was", "[cache_state]") {
    for (index_t n : {1, 3}) {
        step_battery<h2o_driver<float>>(n);
        step_battery<h2o_driver<attune::half>>(n);
    }
}
TEST_CASE("cache_state: a throwing duo_cache step leaves every head as it was", "[cache_state]") {
    for (index_t n : {1, 3}) {
        step_battery<duo_driver<float>>(n);
        step_battery<duo_driver<attune::bf16>>(n);
    }
}
TEST_CASE("cache_state: a throwing kv_cache call leaves the cache as it was", "[cache_state]") {
    kv_battery<float>();
    kv_battery<attune::bf16>();
}
TEST_CASE("cache_state: a throwing landmark_cache call leaves the cache and its selection as they were", "[cache_state]") {
    landmark_battery<float>();
    landmark_battery<attune::half>();
}
