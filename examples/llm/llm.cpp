// attune_llm: a small decoder-only model runner on attune (Llama, Mistral, gpt-oss configs of
// Hugging Face transformers), greedy decoding from a config.json and a model.safetensors.
//
//   attune_llm generate MODEL_DIR 1,2,3 [--steps N] [--chunk N] [--threads N] [--bf16]
//   attune_llm check FIXTURE_DIR RUN [--threads N]     RUN: full chunked paged streaming bf16
//   attune_llm bench [--context N] [--steps N] [--threads N] [--layers N] [--hidden N] ...
//
// `check` runs the model as a user would and compares every step's logits and greedy token with
// transformers' (the fixtures of make_fixtures.py); it exits 1 when a target is missed:
//   full       prefill in one call, 32 greedy steps (sequence_store)       max |Δlogit| ≤ 1e-3, tokens equal
//   chunked    the prompt in chunks of 5 tokens, then 32 steps             same
//   paged      two requests sharing a prompt prefix in one page pool,       same, both requests
//              forked after the prefix; suffixes and steps batched
//   streaming  StreamingLLM's sinks + recent cache on every full layer      same, against transformers
//              (llama fixture)                                                under the same mask
//   bf16       bf16 activations and cache, teacher-forced on transformers'  ≥ 30 of 32 argmaxes agree
//              tokens; the free-running tokens and the logit error reported
// `bench` times prefill and decode of a random Llama-shaped model and the share spent in attention.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <attune/attune.hpp>

#include "config.hpp"
#include "kv_stores.hpp"
#include "model.hpp"
#include "safetensors.hpp"
#include "weights.hpp"

namespace {

using llm::batch;
using llm::matrix;

// One sequence's rows: tokens at positions first, first + 1, ….
batch rows_of(const std::vector<std::int32_t>& tokens, std::int32_t first) {
    batch b;
    b.tokens = tokens;
    for (std::size_t i = 0; i < tokens.size(); ++i) b.positions.push_back(first + static_cast<std::int32_t>(i));
    b.cu = {0, static_cast<std::int32_t>(tokens.size())};
    b.requests = {0};
    return b;
}

std::int32_t argmax(const matrix& logits, Eigen::Index row) {
    Eigen::Index best = 0;
    logits.row(row).maxCoeff(&best);
    return static_cast<std::int32_t>(best);
}

struct decoded {
    std::vector<std::int32_t> tokens;  ///< the argmax of each step
    matrix logits;                     ///< [steps, vocab]
    llm::timings time;
};

// The prompt in chunks of `chunk` tokens (0: one call), then greedy steps; each step feeds its own
// argmax, or forced[i] (teacher forcing) when `forced` is given.
template <class T, class Store, class Exec>
decoded greedy(llm::model<T>& m, Store& store, const std::vector<std::int32_t>& prompt, int steps, std::size_t chunk,
               const std::vector<std::int32_t>* forced, const Exec& exec) {
    decoded r;
    r.logits.resize(steps, m.cfg().vocab);
    if (chunk == 0) chunk = prompt.size();
    matrix last;
    for (std::size_t at = 0; at < prompt.size(); at += chunk) {
        const std::vector<std::int32_t> part(prompt.begin() + static_cast<std::ptrdiff_t>(at),
                                             prompt.begin() + static_cast<std::ptrdiff_t>(std::min(prompt.size(), at + chunk)));
        last = m.forward(rows_of(part, static_cast<std::int32_t>(at)), store, exec, &r.time);
    }
    auto pos = static_cast<std::int32_t>(prompt.size());
    for (int i = 0; i < steps; ++i) {
        r.logits.row(i) = last.row(0);
        r.tokens.push_back(argmax(last, 0));
        if (i + 1 == steps) break;
        const std::int32_t next = forced ? (*forced)[static_cast<std::size_t>(i)] : r.tokens.back();
        last = m.forward(rows_of({next}, pos++), store, exec, &r.time);
    }
    return r;
}

struct reference {
    std::vector<std::int32_t> prompt, tokens;
    matrix logits;
};

std::vector<std::int32_t> ints(const llm::safetensors& f, const std::string& name) {
    std::vector<std::int32_t> out;
    for (std::int64_t v : f.ints(name)) out.push_back(static_cast<std::int32_t>(v));
    return out;
}

matrix logits_of(const llm::safetensors& f, const std::string& name, std::int64_t steps, std::int64_t vocab) {
    const std::vector<float> v = f.floats(name, {steps, vocab});
    return Eigen::Map<const matrix>(v.data(), steps, vocab);
}

// How far a run is from transformers: the largest logit error over the steps whose inputs agreed
// (after a differing token the sequences differ and so do the logits), and the tokens that agree.
struct comparison {
    double max_err = 0;
    int equal_tokens = 0, steps = 0;
    bool identical() const { return equal_tokens == steps; }
};

comparison compare(const decoded& run, const reference& ref, bool teacher_forced) {
    comparison c;
    c.steps = static_cast<int>(ref.tokens.size());
    bool diverged = false;
    for (int i = 0; i < c.steps; ++i) {
        if (!diverged) c.max_err = std::max(c.max_err, double((run.logits.row(i) - ref.logits.row(i)).cwiseAbs().maxCoeff()));
        const bool same = run.tokens[static_cast<std::size_t>(i)] == ref.tokens[static_cast<std::size_t>(i)];
        c.equal_tokens += same;
        if (!same && !teacher_forced) diverged = true;
    }
    return c;
}

bool report(const std::string& what, const comparison& c, const llm::timings& t, int tokens_run) {
    const bool ok = c.max_err <= 1e-3 && c.identical();
    std::printf("%-28s max |logit - transformers| %.2e (target 1e-3), greedy tokens %d/%d equal, %.0f tok/s (%.0f%% in attention)  %s\n",
                what.c_str(), c.max_err, c.equal_tokens, c.steps, tokens_run / t.total, 100.0 * t.attention / t.total,
                ok ? "ok" : "FAILED");
    return ok;
}

template <class Exec>
int check(const std::string& dir, const std::string& run, const Exec& exec) {
    const llm::config c = llm::load_config(dir);
    const llm::weights w = llm::load_weights(c, llm::safetensors::open(dir + "/model.safetensors"));
    const llm::safetensors f = llm::safetensors::open(dir + "/reference.safetensors");
    reference a{ints(f, "prompt"), ints(f, "tokens"), {}};
    const auto steps = static_cast<int>(a.tokens.size());
    a.logits = logits_of(f, "logits", steps, c.vocab);
    const std::string name = c.model_type + " " + run;
    const int tokens_run = static_cast<int>(a.prompt.size()) + steps - 1;

    if (run == "full" || run == "chunked") {
        llm::model<float> m(c, w);
        llm::sequence_store<float> store(c);
        const decoded r = greedy(m, store, a.prompt, steps, run == "chunked" ? 5 : 0, nullptr, exec);
        return report(name, compare(r, a, false), r.time, tokens_run) ? 0 : 1;
    }
    if (run == "streaming") {
        reference s{a.prompt, ints(f, "stream_tokens"), logits_of(f, "stream_logits", steps, c.vocab)};
        const attune::streaming_cache_options o{ints(f, "stream_sinks").at(0), ints(f, "stream_recent").at(0)};
        llm::model<float> m(c, w);
        llm::sequence_store<float> store(c, o);
        const decoded r = greedy(m, store, s.prompt, steps, 0, nullptr, exec);
        std::printf("(streaming: %lld sinks + %lld recent; layer 0 holds %lld of %d tokens)\n", static_cast<long long>(o.sinks),
                    static_cast<long long>(o.recent), static_cast<long long>(store.held(0)), tokens_run);
        return report(name, compare(r, s, false), r.time, tokens_run) ? 0 : 1;
    }
    if (run == "bf16") {
        llm::model<attune::bf16> m(c, w);
        llm::sequence_store<attune::bf16> forced_store(c), free_store(c);
        const decoded forced = greedy(m, forced_store, a.prompt, steps, 0, &a.tokens, exec);
        const decoded free_run = greedy(m, free_store, a.prompt, steps, 0, nullptr, exec);
        const comparison cf = compare(forced, a, true), cr = compare(free_run, a, false);
        int prefix = 0;
        while (prefix < steps && free_run.tokens[static_cast<std::size_t>(prefix)] == a.tokens[static_cast<std::size_t>(prefix)]) ++prefix;
        const bool ok = cf.equal_tokens >= 30;
        std::printf(
            "%-28s teacher-forced argmax %d/%d equal (target 30), max |logit - transformers fp32| %.2e "
            "(transformers bf16: %.2e, %lld/32); free-running: first %d tokens equal  %s\n",
            name.c_str(), cf.equal_tokens, cf.steps, cf.max_err, static_cast<double>(f.floats("bf16_torch_max_err").at(0)),
            static_cast<long long>(f.ints("bf16_torch_agree").at(0)), prefix, ok ? "ok" : "FAILED");
        (void)cr;
        return ok ? 0 : 1;
    }
    if (run == "paged") {
        reference b{ints(f, "prompt_b"), ints(f, "tokens_b"), logits_of(f, "logits_b", steps, c.vocab)};
        const auto prefix = static_cast<std::size_t>(ints(f, "prefix_len").at(0));
        llm::model<float> m(c, w);
        llm::paged_store<float> store(c, /*page_size*/ 4, /*pages*/ 64);
        // The shared prefix once, then request b forks it: its pages are a's until either writes.
        const int ra = store.add_request();
        const std::vector<std::int32_t> shared(a.prompt.begin(), a.prompt.begin() + static_cast<std::ptrdiff_t>(prefix));
        llm::timings t;
        m.forward(rows_of(shared, 0), store, exec, &t);
        const int rb = store.fork(ra);
        const attune::index_t pages_shared = store.pages_used(0);
        // Both suffixes in one batch, then both requests' decode rows in one batch per step.
        batch next;
        next.cu = {0};
        for (const auto& [req, prompt] : {std::pair{ra, &a.prompt}, std::pair{rb, &b.prompt}}) {
            for (std::size_t i = prefix; i < prompt->size(); ++i) {
                next.tokens.push_back((*prompt)[i]);
                next.positions.push_back(static_cast<std::int32_t>(i));
            }
            next.cu.push_back(static_cast<std::int32_t>(next.tokens.size()));
            next.requests.push_back(req);
        }
        decoded da, db;
        da.logits.resize(steps, c.vocab), db.logits.resize(steps, c.vocab);
        for (int i = 0; i < steps; ++i) {
            const matrix logits = m.forward(next, store, exec, &t);
            da.logits.row(i) = logits.row(0), db.logits.row(i) = logits.row(1);
            da.tokens.push_back(argmax(logits, 0)), db.tokens.push_back(argmax(logits, 1));
            next.tokens = {da.tokens.back(), db.tokens.back()};
            next.positions = {static_cast<std::int32_t>(a.prompt.size()) + i, static_cast<std::int32_t>(b.prompt.size()) + i};
            next.cu = {0, 1, 2};
        }
        std::printf("(paged: page size 4, %lld pages of layer 0 shared by the prefix of %zu tokens, %lld in use at the end)\n",
                    static_cast<long long>(pages_shared), prefix, static_cast<long long>(store.pages_used(0)));
        const bool ok_a = report(name + " request a", compare(da, a, false), t, 2 * tokens_run);
        const bool ok_b = report(name + " request b", compare(db, b, false), t, 2 * tokens_run);
        return ok_a && ok_b ? 0 : 1;
    }
    std::fprintf(stderr, "unknown run \"%s\" (full, chunked, paged, streaming, bf16)\n", run.c_str());
    return 2;
}

std::vector<std::int32_t> parse_ids(const std::string& s) {
    std::vector<std::int32_t> ids;
    std::stringstream in(s);
    for (std::string item; std::getline(in, item, ',');) ids.push_back(static_cast<std::int32_t>(std::stol(item)));
    return ids;
}

// --name value pairs after the positional arguments.
struct flags {
    std::vector<std::string> args;
    long get(const std::string& name, long fallback) const {
        for (std::size_t i = 0; i + 1 < args.size(); ++i)
            if (args[i] == "--" + name) return std::stol(args[i + 1]);
        return fallback;
    }
    bool has(const std::string& name) const {
        for (const auto& a : args)
            if (a == "--" + name) return true;
        return false;
    }
};

template <class T, class Exec>
int generate(const std::string& dir, const std::vector<std::int32_t>& prompt, const flags& fl, const Exec& exec) {
    const llm::config c = llm::load_config(dir);
    llm::model<T> m(c, llm::load_weights(c, llm::safetensors::open(dir + "/model.safetensors")));
    llm::sequence_store<T> store(c);
    const decoded r =
        greedy(m, store, prompt, static_cast<int>(fl.get("steps", 32)), static_cast<std::size_t>(fl.get("chunk", 0)), nullptr, exec);
    for (std::int32_t t : r.tokens) std::printf("%d ", t);
    std::printf("\n%.0f tok/s, %.0f%% of the time in attention\n", double(prompt.size() + r.tokens.size() - 1) / r.time.total,
                100.0 * r.time.attention / r.time.total);
    return 0;
}

// A random model of a given shape (weights N(0, 0.02)): prefill `context` tokens, then `steps`.
template <class Exec>
int bench(const flags& fl, int threads, const Exec& exec) {
    llm::config c;
    c.model_type = "llama";
    c.vocab = fl.get("vocab", 32000), c.hidden = fl.get("hidden", 2048), c.intermediate = fl.get("intermediate", 5632);
    c.layers = fl.get("layers", 4), c.heads = fl.get("heads", 32), c.kv_heads = fl.get("kv-heads", 4), c.head_dim = fl.get("head-dim", 64);
    c.rms_eps = 1e-5;
    c.rope.head_dim = c.head_dim;
    c.kinds.assign(static_cast<std::size_t>(c.layers), llm::layer_kind::full);
    std::mt19937 gen(7);
    std::normal_distribution<float> nd(0.0f, 0.02f);
    const auto random = [&](std::int64_t r, std::int64_t k) { return matrix(matrix::NullaryExpr(r, k, [&]() { return nd(gen); })); };
    llm::weights w;
    w.embed = random(c.vocab, c.hidden), w.lm_head = random(c.vocab, c.hidden), w.norm = llm::row_vector::Ones(c.hidden);
    for (std::int64_t l = 0; l < c.layers; ++l) {
        llm::layer_weights lw;
        lw.input_norm = lw.post_norm = llm::row_vector::Ones(c.hidden);
        lw.attn.q.w = random(c.heads * c.head_dim, c.hidden), lw.attn.o.w = random(c.hidden, c.heads * c.head_dim);
        lw.attn.k.w = random(c.kv_heads * c.head_dim, c.hidden), lw.attn.v.w = random(c.kv_heads * c.head_dim, c.hidden);
        lw.mlp.gate.w = random(c.intermediate, c.hidden), lw.mlp.up.w = random(c.intermediate, c.hidden);
        lw.mlp.down.w = random(c.hidden, c.intermediate);
        w.layers.push_back(std::move(lw));
    }
    llm::model<float> m(c, std::move(w));
    llm::sequence_store<float> store(c);
    const auto context = static_cast<std::size_t>(fl.get("context", 1024));
    std::vector<std::int32_t> prompt(context);
    for (std::size_t i = 0; i < context; ++i) prompt[i] = static_cast<std::int32_t>((i * 7919) % static_cast<std::size_t>(c.vocab));
    llm::timings pre, dec;
    matrix last = m.forward(rows_of(prompt, 0), store, exec, &pre);
    const int steps = static_cast<int>(fl.get("steps", 32));
    for (int i = 0; i < steps; ++i) last = m.forward(rows_of({argmax(last, 0)}, static_cast<std::int32_t>(context) + i), store, exec, &dec);
    std::printf("bench: %d threads, hidden %lld, %lld layers, Hq %lld / Hkv %lld, D %lld, vocab %lld\n", threads,
                static_cast<long long>(c.hidden), static_cast<long long>(c.layers), static_cast<long long>(c.heads),
                static_cast<long long>(c.kv_heads), static_cast<long long>(c.head_dim), static_cast<long long>(c.vocab));
    std::printf("prefill %zu tokens: %.1f tok/s, %.1f%% in attention\n", context, double(context) / pre.total,
                100 * pre.attention / pre.total);
    std::printf("decode %d steps after it: %.1f tok/s, %.1f%% in attention\n", steps, steps / dec.total, 100 * dec.attention / dec.total);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    const std::vector<std::string> args(argv + 1, argv + argc);
    const auto usage = [] {
        std::fprintf(stderr,
                     "usage: attune_llm generate MODEL_DIR IDS [--steps N] [--chunk N] [--threads N] [--bf16]\n"
                     "       attune_llm check FIXTURE_DIR full|chunked|paged|streaming|bf16 [--threads N]\n"
                     "       attune_llm bench [--context N] [--steps N] [--threads N] [--layers N] [--hidden N] ...\n");
        return 2;
    };
    if (args.empty()) return usage();
    try {
        const std::size_t positional = args[0] == "bench" ? 1 : 3;
        if (args.size() < positional) return usage();
        const flags fl{std::vector<std::string>(args.begin() + static_cast<std::ptrdiff_t>(positional), args.end())};
        const int threads = static_cast<int>(fl.get("threads", 1));
        Eigen::setNbThreads(threads);
        const attune::openmp_executor exec{threads};
        if (args[0] == "check") return check(args[1], args[2], exec);
        if (args[0] == "generate")
            return fl.has("bf16") ? generate<attune::bf16>(args[1], parse_ids(args[2]), fl, exec)
                                  : generate<float>(args[1], parse_ids(args[2]), fl, exec);
        if (args[0] == "bench") return bench(fl, threads, exec);
        return usage();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "attune_llm: %s\n", e.what());
        return 1;
    }
}
