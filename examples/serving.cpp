// A toy serving loop over a paged KV cache: a 100-token system prompt is prefilled once, then five
// requests fork from it (its pages shared, not copied) and arrive at different steps. Each step packs
// the rows of every active request — a chunk of its user prompt (chunked prefill, 32 tokens at a
// time) or one decode token — into ONE batch: RoPE at each row's position, K/V appended to each
// request's pages, and one paged_attention call for all of them. Requests finish at different steps
// and are freed. No model: q, k and v are random; what matters is the data flow. Every step is
// checked against dense causal attention over each request's own key history.
#include <attune/attune.hpp>
#include <attune/batch.hpp>
#include <attune/cache/paged_kv_cache.hpp>
#include <attune/prepass/rope.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

constexpr int Hq = 8, Hkv = 2, D = 64, page = 16, pool_pages = 256, chunk = 32;

struct request {
    request(int arrival, int prompt, int answer) : arrival(arrival), prompt(prompt), answer(answer) {}
    int arrival, prompt, answer;  // the step it arrives at, its user prompt's tokens, the tokens it decodes
    attune::seq_id seq = -1;
    int prefilled = 0, decoded = 0;
    std::vector<float> k_hist, v_hist;  // the check's copy of its rotated keys and values, [tokens, Hkv, D]
};

// Rows [first, first + n) of packed [rows, heads, D] memory, as the [1, heads, n, D] view attune reads.
inline attune::tensor_view<const float> rows_of(const std::vector<float>& x, int heads, int first, int n) {
    return attune::packed_view(x.data() + std::size_t(first) * heads * D, n, heads, D);
}

int main() {
    attune::paged_kv_cache<float> cache(Hkv, D, D, page, pool_pages, attune::page_layout::nhd);
    attune::rope rope;  // Llama-style: NeoX pairing, theta 500000
    rope.head_dim = D;
    rope.theta = 500000.0;

    std::mt19937 rng(7);
    std::normal_distribution<float> normal;
    std::vector<float> q, k, v, out, direct;  // the step's packed rows: [rows, H, D]
    std::vector<std::int32_t> offsets, starts;
    std::vector<attune::seq_id> seqs;
    attune::page_table_storage table;  // reused from step to step
    double worst = 0.0;

    // One step: request batch[i] brings rows[i] new tokens. One RoPE pass, one append per request,
    // one paged_attention call; then the check. Returns the step's max |paged - dense|.
    auto step = [&](const std::vector<request*>& batch, const std::vector<int>& rows) {
        const int n = int(batch.size());
        offsets.assign(1, 0);
        starts.clear();
        seqs.clear();
        for (int i = 0; i < n; ++i) {
            offsets.push_back(offsets.back() + rows[i]);
            starts.push_back(std::int32_t(cache.tokens(batch[i]->seq)));  // position of its first new token
            seqs.push_back(batch[i]->seq);
        }
        const int total = offsets.back();
        // The model's projections of the new tokens (random here), token-major as engines keep them.
        auto project = [&](std::vector<float>& x, int heads) {
            x.resize(std::size_t(total) * heads * D);
            for (float& e : x) e = normal(rng);
        };
        project(q, Hq), project(k, Hkv), project(v, Hkv);
        out.assign(q.size(), 0.0f);
        const attune::seq_offsets q_offsets{offsets.data(), n};
        const auto qv = attune::packed_view(q.data(), total, Hq, D);

        // RoPE: row t of request i sits at position starts[i] + t; q and k in one pass.
        attune::apply_rope_qk(rope, qv, attune::packed_view(k.data(), total, Hkv, D),
                              attune::rope_positions::ragged(q_offsets, starts.data()));

        // The new keys and values enter each request's pages (a shared partial last page is copied first).
        for (int i = 0; i < n; ++i) {
            const int first = offsets[i];
            cache.append(seqs[i], rows_of(k, Hkv, first, rows[i]), rows_of(v, Hkv, first, rows[i]));
            const std::size_t span = std::size_t(rows[i]) * Hkv * D;
            batch[i]->k_hist.insert(batch[i]->k_hist.end(), k.begin() + first * Hkv * D, k.begin() + first * Hkv * D + span);
            batch[i]->v_hist.insert(batch[i]->v_hist.end(), v.begin() + first * Hkv * D, v.begin() + first * Hkv * D + span);
        }

        // ONE call for the whole batch: causal is bottom-right, so each request's new rows see its
        // cached tokens and the new ones up to their own.
        attune::paged_attention(qv, q_offsets, cache.kv(seqs.data(), n, table), attune::packed_view(out.data(), total, Hq, D),
                                attune::causal{});

        // Check: each request's rows against dense causal attention over its whole history.
        double err = 0.0;
        for (int i = 0; i < n; ++i) {
            const int first = offsets[i], len = int(batch[i]->k_hist.size() / (Hkv * D));
            direct.assign(std::size_t(rows[i]) * Hq * D, 0.0f);
            attune::attention(rows_of(q, Hq, first, rows[i]), rows_of(batch[i]->k_hist, Hkv, 0, len),
                              rows_of(batch[i]->v_hist, Hkv, 0, len), attune::packed_view(direct.data(), rows[i], Hq, D), attune::causal{});
            for (std::size_t j = 0; j < direct.size(); ++j) {
                const double e = std::fabs(direct[j] - out[std::size_t(first) * Hq * D + j]);
                err = std::isnan(e) ? HUGE_VAL : std::max(err, e);  // a NaN fails the check too
            }
        }
        worst = std::max(worst, err);
        return err;
    };

    // The system prompt, prefilled once into its own sequence (a batch of one).
    request system(0, 100, 0);
    system.seq = cache.add_sequence();
    const double sys_err = step({&system}, {system.prompt});
    const int sys_pages = int(cache.page_count(system.seq));
    std::printf("system prompt: %d tokens in %d pages, max |err| %.1e\n", system.prompt, sys_pages, sys_err);

    // Requests: arrival step, user prompt, answer length. Each forks the system prompt when it arrives.
    std::vector<request> requests = {{0, 45, 6}, {0, 80, 12}, {1, 20, 3}, {2, 100, 5}, {4, 30, 9}};
    std::vector<request*> active, batch;
    std::vector<int> rows;
    int forked = 0;
    for (int t = 0; forked < int(requests.size()) || !active.empty(); ++t) {
        for (request& r : requests)
            if (r.arrival == t) {
                r.seq = cache.fork(system.seq);  // shares the system prompt's pages, copies nothing
                r.k_hist = system.k_hist;
                r.v_hist = system.v_hist;
                active.push_back(&r);
                ++forked;
                std::printf("request %d arrives: forked from the system prompt, shares its %d pages\n", int(&r - requests.data()),
                            int(cache.page_count(r.seq)));
            }

        // The batch: a prompt chunk of each request still in prefill, one row of each decoding one.
        batch.clear();
        rows.clear();
        int chunks = 0, chunk_rows = 0, decodes = 0;
        for (request* r : active) {
            const int left = r->prompt - r->prefilled;
            if (left > 0) ++chunks, chunk_rows += std::min(chunk, left);
            else ++decodes;
            batch.push_back(r);
            rows.push_back(left > 0 ? std::min(chunk, left) : 1);
        }
        const double err = step(batch, rows);
        // Without sharing, every sequence would hold all its pages itself.
        int unshared = sys_pages;
        for (request* r : active) unshared += int(cache.page_count(r->seq));
        std::printf("step %2d: %3d prefill rows (%d chunks) + %d decode rows | pages in use %3d (%3d without sharing) | max |err| %.1e\n",
                    t, chunk_rows, chunks, decodes, int(cache.pages_used()), unshared, err);

        // Bookkeeping; a request that has decoded its answer is freed (its own pages return to the pool).
        for (std::size_t i = 0; i < batch.size(); ++i) {
            if (batch[i]->prefilled < batch[i]->prompt) batch[i]->prefilled += rows[i];
            else batch[i]->decoded += rows[i];
        }
        for (request* r : active)
            if (r->decoded == r->answer) {
                cache.free(r->seq);
                std::printf("         request %d done (%d + %d + %d tokens), freed\n", int(r - requests.data()), system.prompt, r->prompt,
                            r->answer);
            }
        active.erase(std::remove_if(active.begin(), active.end(), [](request* r) { return r->decoded == r->answer; }), active.end());
    }

    cache.free(system.seq);  // the prefix cache entry goes last
    const bool clean = cache.pages_free() == cache.pages() && cache.sequences() == 0;
    std::printf("pool: %d of %d pages free, %d sequences live (%s); max |err| %.1e\n", int(cache.pages_free()), int(cache.pages()),
                int(cache.sequences()), clean ? "nothing leaked" : "LEAK", worst);
    return clean && worst <= 1e-4 ? 0 : 1;
}
