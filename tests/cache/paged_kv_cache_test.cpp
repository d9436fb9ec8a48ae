// paged_kv_cache against a model that keeps every sequence's tokens in a std::vector and labels each
// of its pages by where its contents came from (a new label per page filled, copied by fork, renewed
// by copy-on-write), so which sequences share which physical page is predicted, not read back:
//  - random add / append / fork / free / hostile calls, page sizes 1, 3, 16, 100, 256, NHD and HND,
//    float / bf16 / half storage fed float / bf16 / half chunks: after every operation each
//    sequence's tokens read back through table() and the pool views (and through the raw NHD/HND
//    offsets) equal the model's; pages_free + pages in use == pages; the reference counts equal the
//    model's; two sequences hold one page exactly when the model's labels say so (shared by a fork
//    and not written since: COW copies only the partially filled last page);
//  - an append the pool cannot hold, and every hostile call, throws attune::error and leaves the
//    cache bit-identical; after freeing everything the free list holds every page exactly once;
//  - table() reuses its storage; detail::check_page_table rejects malformed tables.
#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "attune/cache/paged_kv_cache.hpp"

using attune::index_t;
using attune::page_layout;
using attune::seq_id;

namespace {

// One sequence of the model: tokens as floats (each H·d, already rounded as the cache stores
// them) and one label per page.
struct model_seq {
    seq_id id = -1;
    std::vector<std::vector<float>> k, v;
    std::vector<long> labels;
};

struct model {
    index_t H, dk, dv, P, pages;
    std::vector<model_seq> live;
    std::vector<seq_id> dead;  // ids freed (never valid again)
    long next_label = 0;

    index_t count_label(long label) const {
        index_t n = 0;
        for (const auto& s : live)
            for (long l : s.labels) n += l == label;
        return n;
    }
    index_t distinct_labels() const {
        std::vector<long> all;
        for (const auto& s : live) all.insert(all.end(), s.labels.begin(), s.labels.end());
        std::sort(all.begin(), all.end());
        return static_cast<index_t>(std::unique(all.begin(), all.end()) - all.begin());
    }
    // Free pages an append of n tokens to s takes: new pages, plus one when its partial last page is shared.
    index_t take(const model_seq& s, index_t n) const {
        const index_t t = static_cast<index_t>(s.k.size());
        const index_t need = (t + n + P - 1) / P - static_cast<index_t>(s.labels.size());
        const bool cow = n > 0 && t % P != 0 && count_label(s.labels.back()) > 1;
        return need + (cow ? 1 : 0);
    }
    void append(model_seq& s, const std::vector<std::vector<float>>& k, const std::vector<std::vector<float>>& v) {
        const index_t t = static_cast<index_t>(s.k.size());
        if (!k.empty() && t % P != 0 && count_label(s.labels.back()) > 1) s.labels.back() = next_label++;
        s.k.insert(s.k.end(), k.begin(), k.end());
        s.v.insert(s.v.end(), v.begin(), v.end());
        while (static_cast<index_t>(s.labels.size()) * P < static_cast<index_t>(s.k.size())) s.labels.push_back(next_label++);
    }
};

// Everything observable of a cache, for "a throwing call changed nothing".
struct snapshot {
    std::vector<std::vector<std::int32_t>> pages;
    std::vector<index_t> tokens;
    std::vector<index_t> refs;
    index_t free = 0, sequences = 0;
    std::vector<float> k, v;
    bool operator==(const snapshot& o) const {
        return pages == o.pages && tokens == o.tokens && refs == o.refs && free == o.free && sequences == o.sequences && k == o.k &&
               v == o.v;
    }
};

template <class T>
std::vector<float> pool_floats(const attune::tensor_view<const T>& pool) {
    std::vector<float> r(static_cast<std::size_t>(pool.size()));
    for (index_t i = 0; i < pool.size(); ++i) r[static_cast<std::size_t>(i)] = attune::to_float(pool.data()[i]);
    return r;
}

template <class T>
snapshot snap(const attune::paged_kv_cache<T>& c, const model& m) {
    snapshot s;
    for (const auto& q : m.live) {
        s.pages.emplace_back(c.page_ids(q.id), c.page_ids(q.id) + c.page_count(q.id));
        s.tokens.push_back(c.tokens(q.id));
    }
    for (index_t p = 0; p < c.pages(); ++p) s.refs.push_back(c.ref_count(p));
    s.free = c.pages_free();
    s.sequences = c.sequences();
    s.k = pool_floats(c.k_pages());
    s.v = pool_floats(c.v_pages());
    return s;
}

// Offset of (page, head, slot) in a pool of the given layout, from the layouts' definitions.
index_t raw_offset(page_layout lay, index_t P, index_t H, index_t d, index_t page, index_t h, index_t slot) {
    return lay == page_layout::nhd ? ((page * P + slot) * H + h) * d : ((page * H + h) * P + slot) * d;
}

// Checks the cache against the model in full (see the top of the file).
template <class T>
void verify(const attune::paged_kv_cache<T>& c, const model& m, attune::page_table_storage& st, std::mt19937& rng) {
    const index_t P = m.P;
    // The table of every live sequence, in a random order.
    std::vector<std::size_t> order(m.live.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), rng);
    std::vector<seq_id> ids;
    for (std::size_t i : order) ids.push_back(m.live[i].id);
    const attune::paged_kv<T> kv = c.kv(ids.data(), static_cast<index_t>(ids.size()), st);
    const attune::page_table& t = kv.table;
    REQUIRE(t.sequences == static_cast<index_t>(ids.size()));
    REQUIRE_NOTHROW(attune::detail::check_page_table("test", t, c.pages(), P));
    REQUIRE(kv.k_pages.shape() == std::array<index_t, 4>{m.pages, m.H, P, m.dk});
    REQUIRE(kv.v_pages.shape() == std::array<index_t, 4>{m.pages, m.H, P, m.dv});
    REQUIRE(c.sequences() == static_cast<index_t>(m.live.size()));

    std::map<long, std::int32_t> page_of_label;
    std::map<std::int32_t, long> label_of_page;
    std::vector<index_t> refs(static_cast<std::size_t>(m.pages), 0);
    index_t mismatches = 0;
    for (index_t s = 0; s < t.sequences; ++s) {
        const model_seq& q = m.live[order[static_cast<std::size_t>(s)]];
        const index_t L = static_cast<index_t>(q.k.size());
        REQUIRE(t.length(s) == L);
        REQUIRE(c.tokens(q.id) == L);
        const index_t np = t.first[s + 1] - t.first[s];
        REQUIRE(np == static_cast<index_t>(q.labels.size()));
        REQUIRE(np == (L + P - 1) / P);
        REQUIRE(c.page_count(q.id) == np);
        for (index_t i = 0; i < np; ++i) {
            const std::int32_t pg = t.pages(s)[i];
            REQUIRE(c.page_ids(q.id)[i] == pg);
            ++refs[static_cast<std::size_t>(pg)];
            const long label = q.labels[static_cast<std::size_t>(i)];
            // One physical page per label and one label per page: shared exactly as the model says.
            const auto a = page_of_label.emplace(label, pg);
            const auto b = label_of_page.emplace(pg, label);
            REQUIRE(a.first->second == pg);
            REQUIRE(b.first->second == label);
        }
        for (index_t tok = 0; tok < L; ++tok) {
            const index_t pg = t.pages(s)[tok / P], slot = tok % P;
            for (index_t h = 0; h < m.H; ++h) {
                const T* kr = kv.k_pages.row(pg, h, slot);
                const T* vr = kv.v_pages.row(pg, h, slot);
                mismatches += kr != kv.k_pages.data() + raw_offset(c.layout(), P, m.H, m.dk, pg, h, slot);
                mismatches += vr != kv.v_pages.data() + raw_offset(c.layout(), P, m.H, m.dv, pg, h, slot);
                for (index_t d = 0; d < m.dk; ++d)
                    mismatches += attune::to_float(kr[d]) != q.k[static_cast<std::size_t>(tok)][static_cast<std::size_t>(h * m.dk + d)];
                for (index_t d = 0; d < m.dv; ++d)
                    mismatches += attune::to_float(vr[d]) != q.v[static_cast<std::size_t>(tok)][static_cast<std::size_t>(h * m.dv + d)];
            }
        }
    }
    REQUIRE(mismatches == 0);
    const index_t used = static_cast<index_t>(label_of_page.size());
    REQUIRE(used == m.distinct_labels());
    REQUIRE(c.pages_used() == used);
    REQUIRE(c.pages_free() + used == m.pages);
    for (index_t p = 0; p < m.pages; ++p) REQUIRE(c.ref_count(p) == refs[static_cast<std::size_t>(p)]);
}

// A chunk of n tokens in storage In, laid out [1, H, n, d] (bhld) or [1, n, H, d] (blhd) with a gap
// after each row; `vals` gets the values as the cache will store them (rounded through In, then T).
template <class In, class T>
struct chunk {
    std::vector<In> buf;
    attune::tensor_view<const In> view;
    chunk(index_t H, index_t n, index_t d, bool blhd, std::mt19937& rng, std::vector<std::vector<float>>& vals) {
        const index_t row = d + 1;
        buf.assign(static_cast<std::size_t>(H * n * row + 1), attune::from_float<In>(0.0f));
        const std::array<index_t, 3> strides = blhd ? std::array<index_t, 3>{0, row, H * row} : std::array<index_t, 3>{0, n * row, row};
        view = attune::tensor_view<const In>(buf.data(), {1, H, n, d}, strides);
        std::normal_distribution<float> dist(0.0f, 1.0f);
        vals.assign(static_cast<std::size_t>(n), std::vector<float>(static_cast<std::size_t>(H * d)));
        for (index_t t = 0; t < n; ++t)
            for (index_t h = 0; h < H; ++h)
                for (index_t j = 0; j < d; ++j) {
                    const In x = attune::from_float<In>(dist(rng));
                    buf[static_cast<std::size_t>(h * strides[1] + t * strides[2] + j)] = x;
                    vals[static_cast<std::size_t>(t)][static_cast<std::size_t>(h * d + j)] =
                        attune::to_float(attune::from_float<T>(attune::to_float(x)));
                }
    }
};

// Appends n random tokens (chunk storage In) to model sequence q, through the cache and the model;
// when the pool cannot hold them, checks the throw changed nothing.
template <class In, class T>
void append_op(attune::paged_kv_cache<T>& c, model& m, model_seq& q, index_t n, std::mt19937& rng) {
    std::vector<std::vector<float>> kv_k, kv_v;
    const bool blhd = rng() % 2 == 0;
    chunk<In, T> k(m.H, n, m.dk, blhd, rng, kv_k), v(m.H, n, m.dv, !blhd, rng, kv_v);
    const index_t take = m.take(q, n);
    REQUIRE(c.pages_needed(q.id, n) == take);
    const index_t free_before = c.pages_free();
    if (take > free_before) {
        const snapshot before = snap(c, m);
        REQUIRE_THROWS_AS(c.append(q.id, k.view, v.view), attune::error);
        REQUIRE(snap(c, m) == before);
        return;
    }
    c.append(q.id, k.view, v.view);
    m.append(q, kv_k, kv_v);
    REQUIRE(c.pages_free() == free_before - take);
}

// A hostile call on the cache: it throws attune::error and changes nothing.
template <class T, class F>
void hostile(const attune::paged_kv_cache<T>& c, const model& m, F&& call) {
    const snapshot before = snap(c, m);
    REQUIRE_THROWS_AS(call(), attune::error);
    REQUIRE(snap(c, m) == before);
}

template <class T>
void random_ops(index_t P, page_layout lay, std::uint32_t seed, int ops) {
    INFO("page size " << P << ", layout " << (lay == page_layout::nhd ? "nhd" : "hnd") << ", storage " << attune::storage_name<T>()
                      << ", seed " << seed);
    std::mt19937 rng(seed);
    model m{2, 3, 5, P, 24, {}, {}, 0};
    attune::paged_kv_cache<T> c(m.H, m.dk, m.dv, P, m.pages, lay);
    attune::page_table_storage st;
    REQUIRE(c.pages_free() == m.pages);
    REQUIRE(c.page_size() == P);
    for (int op = 0; op < ops; ++op) {
        INFO("op " << op);
        const unsigned kind = rng() % 100;
        const auto pick = [&]() -> model_seq& { return m.live[rng() % m.live.size()]; };
        if (m.live.empty() || (kind < 12 && m.live.size() < 8)) {
            const seq_id id = c.add_sequence();
            for (const auto& q : m.live) REQUIRE(q.id != id);
            for (seq_id d : m.dead) REQUIRE(d != id);  // a reused slot has a new generation
            model_seq q;
            q.id = id;
            m.live.push_back(q);
        } else if (kind < 62) {
            model_seq& q = pick();
            // Mostly small chunks, at times one the pool cannot hold.
            const index_t n =
                rng() % 10 == 0 ? (c.pages_free() + 1) * P + 1 : static_cast<index_t>(rng() % static_cast<unsigned>(2 * P + 3));
            switch (rng() % 3) {
                case 0:
                    append_op<float>(c, m, q, n, rng);
                    break;
                case 1:
                    append_op<attune::bf16>(c, m, q, n, rng);
                    break;
                default:
                    append_op<attune::half>(c, m, q, n, rng);
                    break;
            }
        } else if (kind < 77) {
            if (m.live.size() >= 10) continue;
            const model_seq parent = pick();
            const index_t free_before = c.pages_free();
            model_seq child = parent;
            child.id = c.fork(parent.id);
            REQUIRE(c.pages_free() == free_before);  // a fork takes no page
            m.live.push_back(child);
        } else if (kind < 92) {
            const std::size_t i = rng() % m.live.size();
            const seq_id id = m.live[i].id;
            c.free(id);
            m.live.erase(m.live.begin() + static_cast<std::ptrdiff_t>(i));
            m.dead.push_back(id);
        } else {
            // Hostile: freed or made-up ids, bad chunks, chunks that are the pool itself.
            const seq_id bad = !m.dead.empty() && rng() % 2 ? m.dead[rng() % m.dead.size()] : -1 - static_cast<seq_id>(rng() % 3);
            std::vector<float> kb(static_cast<std::size_t>(m.H * m.dk)), vb(static_cast<std::size_t>(m.H * m.dv));
            const auto k1 = attune::tensor_view<const float>(kb.data(), {1, m.H, 1, m.dk}, {0, m.dk, m.dk});
            const auto v1 = attune::tensor_view<const float>(vb.data(), {1, m.H, 1, m.dv}, {0, m.dv, m.dv});
            hostile(c, m, [&] { c.append(bad, k1, v1); });
            hostile(c, m, [&] { (void)c.fork(bad); });
            hostile(c, m, [&] { c.free(bad); });
            hostile(c, m, [&] { (void)c.tokens(bad); });
            hostile(c, m, [&] { (void)c.table(&bad, 1, st); });
            const seq_id good = pick().id;
            hostile(c, m, [&] { c.append(good, k1, attune::tensor_view<const float>(vb.data(), {1, m.H, 1, m.dk}, {0, m.dk, m.dk})); });
            hostile(c, m, [&] { c.append(good, attune::tensor_view<const float>(kb.data(), {2, m.H, 1, m.dk}, {0, m.dk, m.dk}), v1); });
            hostile(c, m, [&] { c.append(good, attune::tensor_view<const float>(nullptr, {1, m.H, 1, m.dk}, {0, m.dk, m.dk}), v1); });
            if (c.pages_free() > 0) {
                // k or v reading the pool's own memory (storage float only: the views must type-check).
                if constexpr (std::is_same_v<T, float>) {
                    const float* pool = c.k_pages().data() + (rng() % 50);
                    hostile(c, m, [&] { c.append(good, attune::tensor_view<const float>(pool, {1, m.H, 1, m.dk}, {0, m.dk, m.dk}), v1); });
                    hostile(c, m, [&] { c.append(good, k1, attune::tensor_view<const float>(pool, {1, m.H, 1, m.dv}, {0, m.dv, m.dv})); });
                }
            }
        }
        verify(c, m, st, rng);
    }
    // Everything freed: every page back on the free list, once.
    for (const auto& q : m.live) c.free(q.id);
    m.live.clear();
    REQUIRE(c.pages_free() == m.pages);
    REQUIRE(c.sequences() == 0);
    model_seq all;
    all.id = c.add_sequence();
    m.live.push_back(all);
    append_op<float>(c, m, m.live.back(), m.pages * P, rng);
    REQUIRE(c.pages_free() == 0);
    std::vector<std::int32_t> ids(c.page_ids(all.id), c.page_ids(all.id) + c.page_count(all.id));
    std::sort(ids.begin(), ids.end());
    for (index_t p = 0; p < m.pages; ++p) REQUIRE(ids[static_cast<std::size_t>(p)] == p);
    verify(c, m, st, rng);
    // A full pool refuses one more token, and changes nothing.
    append_op<float>(c, m, m.live.back(), 1, rng);
}

}  // namespace

TEST_CASE("paged_kv_cache: random append / fork / free against the model (float)", "[paged_cache]") {
    std::uint32_t seed = 100;
    for (index_t P : {1, 3, 16, 100, 256})
        for (page_layout lay : {page_layout::nhd, page_layout::hnd}) random_ops<float>(P, lay, seed++, P == 256 ? 150 : 300);
}

TEST_CASE("paged_kv_cache: random ops, bf16 and half storage", "[paged_cache]") {
    std::uint32_t seed = 200;
    for (index_t P : {3, 100})
        for (page_layout lay : {page_layout::nhd, page_layout::hnd}) {
            random_ops<attune::bf16>(P, lay, seed++, 150);
            random_ops<attune::half>(P, lay, seed++, 150);
        }
}

TEST_CASE("paged_kv_cache: copy-on-write copies only the partially filled last page", "[paged_cache]") {
    for (page_layout lay : {page_layout::nhd, page_layout::hnd}) {
        const index_t H = 2, D = 4, P = 4;
        attune::paged_kv_cache<float> c(H, D, D, P, 8, lay);
        std::vector<float> buf(static_cast<std::size_t>(H * 16 * D));
        for (std::size_t i = 0; i < buf.size(); ++i) buf[i] = static_cast<float>(i);
        const auto tok = [&](index_t first, index_t n) {
            return attune::tensor_view<const float>(buf.data() + first * D, {1, H, n, D}, {0, 16 * D, D});
        };
        const seq_id a = c.add_sequence();
        c.append(a, tok(0, 6), tok(0, 6));  // one full page, one with 2 of 4 slots
        const seq_id b = c.fork(a);
        REQUIRE(c.pages_used() == 2);
        const std::int32_t a0 = c.page_ids(a)[0], a1 = c.page_ids(a)[1];
        REQUIRE(c.ref_count(a0) == 2);
        REQUIRE(c.ref_count(a1) == 2);
        c.append(b, tok(10, 1), tok(10, 1));  // b writes its shared partial page: b copies it
        REQUIRE(c.pages_used() == 3);
        REQUIRE(c.page_ids(b)[0] == a0);  // the full page stays shared
        REQUIRE(c.page_ids(a)[1] == a1);  // a keeps the original
        const std::int32_t b1 = c.page_ids(b)[1];
        REQUIRE(b1 != a1);
        REQUIRE(c.ref_count(a1) == 1);
        for (index_t h = 0; h < H; ++h) {
            for (index_t s = 0; s < 2; ++s)
                for (index_t d = 0; d < D; ++d) REQUIRE(c.k_pages()(b1, h, s, d) == c.k_pages()(a1, h, s, d));
            for (index_t d = 0; d < D; ++d) REQUIRE(c.v_pages()(b1, h, 2, d) == buf[static_cast<std::size_t>((h * 16 + 10) * D + d)]);
        }
        REQUIRE(c.pages_needed(a, 1) == 0);  // a's partial page is its own now: no copy
        c.append(a, tok(11, 2), tok(11, 2));
        REQUIRE(c.pages_used() == 3);  // a filled its own page in place
        REQUIRE(c.page_ids(a)[1] == a1);
        // A full last page shared by a fork: the next append takes a new page, copies nothing.
        const seq_id d = c.fork(a);
        REQUIRE(c.pages_needed(d, 1) == 1);
        c.append(d, tok(0, 1), tok(0, 1));
        REQUIRE(c.pages_used() == 4);
        REQUIRE(c.page_count(d) == 3);
        REQUIRE(c.page_ids(d)[0] == a0);
        REQUIRE(c.page_ids(d)[1] == a1);
        REQUIRE(c.ref_count(a1) == 2);
        REQUIRE(c.ref_count(a0) == 3);
        c.free(a);
        c.free(b);
        REQUIRE(c.ref_count(a0) == 1);
        c.free(d);
        REQUIRE(c.pages_free() == 8);
    }
}

TEST_CASE("paged_kv_cache: table reuses its storage", "[paged_cache]") {
    attune::paged_kv_cache<float> c(1, 2, 2, 5, 10);
    std::vector<float> buf(40, 1.0f);
    const auto tok = attune::tensor_view<const float>(buf.data(), {1, 1, 12, 2}, {0, 0, 2});
    const seq_id a = c.add_sequence(), b = c.add_sequence();
    c.append(a, tok, tok);
    c.append(b, tok, tok);
    attune::page_table_storage st;
    const seq_id both[] = {a, b, a};
    const attune::page_table t1 = c.table(both, 3, st);
    REQUIRE(t1.first[3] == 9);
    const attune::page_table t2 = c.table(both, 2, st);  // smaller: same arrays
    REQUIRE(t2.ids == t1.ids);
    REQUIRE(t2.first == t1.first);
    REQUIRE(t2.lengths == t1.lengths);
    REQUIRE(t2.first[2] == 6);
    REQUIRE(t2.length(1) == 12);
    const attune::page_table t0 = c.table(nullptr, 0, st);
    REQUIRE(t0.sequences == 0);
    REQUIRE_NOTHROW(attune::detail::check_page_table("test", t0, c.pages(), c.page_size()));
    // A failed call leaves the caller's storage as it was.
    const std::vector<std::int32_t> ids = st.ids, first = st.first, lengths = st.lengths;
    c.free(b);
    REQUIRE_THROWS_WITH(c.table(both, 3, st), Catch::Contains("seqs[1]"));
    REQUIRE_THROWS_WITH(c.table(nullptr, 1, st), Catch::Contains("seqs is null"));
    REQUIRE_THROWS_WITH(c.table(both, -1, st), Catch::Contains("n (-1)"));
    REQUIRE(st.ids == ids);
    REQUIRE(st.first == first);
    REQUIRE(st.lengths == lengths);
}

TEST_CASE("paged_kv_cache: hostile construction and limits", "[paged_cache]") {
    using C = attune::paged_kv_cache<float>;
    REQUIRE_THROWS_AS(C(0, 4, 4, 16, 8), attune::error);
    REQUIRE_THROWS_AS(C(2, 0, 4, 16, 8), attune::error);
    REQUIRE_THROWS_AS(C(2, 4, -1, 16, 8), attune::error);
    REQUIRE_THROWS_WITH(C(2, 4, 4, 0, 8), Catch::Contains("page_size"));
    REQUIRE_THROWS_WITH(C(2, 4, 4, 257, 8), Catch::Contains("page_size"));
    REQUIRE_THROWS_WITH(C(2, 4, 4, 16, 0), Catch::Contains("pages"));
    REQUIRE_THROWS_WITH(C(1, 1, 1, 1, index_t{1} << 31), Catch::Contains("pages"));   // ids are int32
    REQUIRE_THROWS_AS(C(index_t{1} << 40, 1 << 20, 4, 256, 1 << 20), attune::error);  // size overflows
    REQUIRE_THROWS_AS(C(2, 4, 4, 16, 8, static_cast<page_layout>(7)), attune::error);
    REQUIRE_NOTHROW(C(1, 1, 1, 256, 1));
    REQUIRE_NOTHROW(C(1, 1, 1, 7, 3, page_layout::hnd));

    C c(2, 4, 4, 16, 8);
    const seq_id a = c.add_sequence();
    std::vector<float> buf(8, 0.5f);
    // 2^31 tokens of one broadcast row: past the int32 lengths, refused before the pool is asked.
    const auto huge = attune::tensor_view<const float>(buf.data(), {1, 2, index_t{1} << 31, 4}, {0, 4, 0});
    REQUIRE_THROWS_WITH(c.append(a, huge, huge), Catch::Contains("int32"));
    REQUIRE_THROWS_WITH(c.pages_needed(a, index_t{1} << 31), Catch::Contains("int32"));
    REQUIRE_THROWS_WITH(c.pages_needed(a, -1), Catch::Contains("negative"));
    REQUIRE_THROWS_WITH(c.ref_count(8), Catch::Contains("page"));
    REQUIRE_THROWS_WITH(c.ref_count(-1), Catch::Contains("page"));
    // A chunk that is the pool's own memory (k or v): refused, it would be read while pages are written.
    const auto pool_k = attune::tensor_view<const float>(c.k_pages().data() + 3, {1, 2, 1, 4}, {0, 4, 4});
    const auto pool_v = attune::tensor_view<const float>(c.v_pages().data() + 17, {1, 2, 1, 4}, {0, 4, 4});
    const auto own = attune::tensor_view<const float>(buf.data(), {1, 2, 1, 4}, {0, 0, 4});
    REQUIRE_THROWS_WITH(c.append(a, pool_k, own), Catch::Contains("k overlaps the cache's page pool"));
    REQUIRE_THROWS_WITH(c.append(a, own, pool_k), Catch::Contains("v overlaps the cache's page pool"));
    REQUIRE_THROWS_WITH(c.append(a, own, pool_v), Catch::Contains("v overlaps the cache's page pool"));
    REQUIRE(c.tokens(a) == 0);
    REQUIRE(c.pages_free() == 8);
    REQUIRE_THROWS_WITH(c.append(a + 1, own, own), Catch::Contains("append: seq"));
    // Ids: a freed id stays invalid after its slot is reused; a made-up one never was.
    c.free(a);
    const seq_id b = c.add_sequence();
    REQUIRE(b != a);
    REQUIRE(!c.contains(a));
    REQUIRE(c.contains(b));
    REQUIRE_THROWS_WITH(c.tokens(a), Catch::Contains("seq"));
    REQUIRE_THROWS_WITH(c.fork(a), Catch::Contains("parent"));
    REQUIRE_THROWS_WITH(c.free(a), Catch::Contains("seq"));
    REQUIRE_THROWS_AS(c.free(b + 1), attune::error);
    REQUIRE_THROWS_AS(c.free(b + (seq_id{1} << 32)), attune::error);
    c.free(b);
    REQUIRE_THROWS_AS(c.free(b), attune::error);  // double free
    REQUIRE(c.sequences() == 0);
    REQUIRE(c.pages_free() == 8);
}

TEST_CASE("paged_kv_cache: a copy is independent and keeps the strong guarantee", "[paged_cache]") {
    attune::paged_kv_cache<float> c(1, 2, 2, 3, 4);
    std::vector<float> buf(20, 2.0f);
    const auto tok = attune::tensor_view<const float>(buf.data(), {1, 1, 5, 2}, {0, 0, 2});
    const seq_id a = c.add_sequence();
    c.append(a, tok, tok);
    const seq_id b = c.fork(a);
    attune::paged_kv_cache<float> d = c;  // copies the pool
    REQUIRE(d.k_pages().data() != c.k_pages().data());
    d.free(a);
    d.free(b);
    REQUIRE(d.pages_free() == 4);
    REQUIRE(c.pages_free() == 2);
    REQUIRE(c.tokens(b) == 5);
}

TEST_CASE("check_page_table rejects malformed tables", "[paged_cache]") {
    // Two sequences over a pool of 6 pages of 4 tokens: {3, 0} with 7 tokens, {5} with 4.
    std::vector<std::int32_t> ids{3, 0, 5}, first{0, 2, 3}, lengths{7, 4};
    const auto table = [&] {
        attune::page_table t;
        t.ids = ids.data();
        t.first = first.data();
        t.lengths = lengths.data();
        t.sequences = 2;
        return t;
    };
    const auto check = [&](const attune::page_table& t) { attune::detail::check_page_table("test", t, 6, 4); };
    REQUIRE_NOTHROW(check(table()));
    const auto rejects = [&](auto mutate, const char* what) {
        auto i = ids;
        auto f = first;
        auto l = lengths;
        attune::page_table t = table();
        mutate(t);
        REQUIRE_THROWS_WITH(check(t), Catch::Contains(what));
        ids = i;
        first = f;
        lengths = l;
    };
    rejects([&](attune::page_table&) { ids[1] = 6; }, "ids[1]");
    rejects([&](attune::page_table&) { ids[2] = -1; }, "ids[2]");
    rejects([&](attune::page_table&) { first[1] = 4; }, "decreases");  // first[1] > first[2]
    rejects([&](attune::page_table&) { first[0] = 1; }, "first[0]");
    rejects([&](attune::page_table&) { lengths[0] = 9; }, "lengths[0]");
    rejects([&](attune::page_table&) { lengths[1] = -1; }, "lengths[1]");
    rejects([&](attune::page_table& t) { t.ids = nullptr; }, "ids is null");
    rejects([&](attune::page_table& t) { t.first = nullptr; }, "first is null");
    rejects([&](attune::page_table& t) { t.lengths = nullptr; }, "lengths is null");
    rejects([&](attune::page_table& t) { t.sequences = -1; }, "negative");
    // No sequences: nothing is read, null pointers are fine.
    REQUIRE_NOTHROW(check(attune::page_table{}));
    // Empty sequences hold no pages and need no ids.
    ids.clear();
    first = {0, 0, 0};
    lengths = {0, 0};
    attune::page_table t = table();
    t.ids = nullptr;
    REQUIRE_NOTHROW(check(t));
}
