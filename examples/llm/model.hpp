#pragma once
// A decoder-only transformer's forward pass over a packed batch, with attention through attune:
//
//   x = embed(tokens)
//   per layer:  h = RMSNorm(x);  q, k, v = h·Wqᵀ, h·Wkᵀ, h·Wvᵀ         (packed [T, H, D])
//               attune::apply_rope_qk(rope, q, k, positions)           each token at its position
//               store.attend(layer, …)                                  cache append + attune call
//               x += out·Woᵀ;  x += MLP(RMSNorm(x))
//   logits = RMSNorm(x_last)·W_lmᵀ                                      each sequence's last row
//
// as transformers' LlamaForCausalLM / MistralForCausalLM / GptOssForCausalLM compute it. T is the
// activations' and K/V's storage: float, or attune::bf16 (each operation's output rounded to bf16,
// Q, K, V and the attention output held in bf16 — the AMX path on CPUs that have it).
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <attune/attune.hpp>

#include "config.hpp"
#include "kv_stores.hpp"
#include "layers.hpp"
#include "weights.hpp"

namespace llm {

/// Wall time of forward passes, and the part spent in the stores' attention calls.
struct timings {
    double total = 0, attention = 0;  ///< seconds
};

template <class T>
class model {
public:
    model(config c, weights w) : c_(std::move(c)), w_(std::move(w)) {}

    const config& cfg() const noexcept { return c_; }

    /// Runs the batch through every layer (its K/V appended to `store`) and returns the logits of
    /// each sequence's last row, [sequences, vocab].
    template <class Store, class Exec>
    matrix forward(const batch& b, Store& store, const Exec& exec, timings* time = nullptr) {
        using clock = std::chrono::steady_clock;
        const auto start = clock::now();
        check(b);
        const attune::index_t rows = b.rows(), hq = c_.heads, hkv = c_.kv_heads, d = c_.head_dim;
        matrix x(rows, c_.hidden);
        for (attune::index_t t = 0; t < rows; ++t) x.row(t) = w_.embed.row(b.tokens[static_cast<std::size_t>(t)]);
        settle<T>(x);
        q_.resize(static_cast<std::size_t>(rows * hq * d));
        k_.resize(static_cast<std::size_t>(rows * hkv * d));
        v_.resize(static_cast<std::size_t>(rows * hkv * d));
        o_.resize(static_cast<std::size_t>(rows * hq * d));
        const auto qv = attune::packed_view(q_.data(), rows, hq, d), kv = attune::packed_view(k_.data(), rows, hkv, d);
        const auto vv = attune::packed_view(v_.data(), rows, hkv, d), ov = attune::packed_view(o_.data(), rows, hq, d);
        for (std::size_t l = 0; l < w_.layers.size(); ++l) {
            const layer_weights& lw = w_.layers[l];
            matrix h = rms_norm(x, lw.input_norm, c_.rms_eps);
            settle<T>(h);
            store_rows(lw.attn.q(h), q_), store_rows(lw.attn.k(h), k_), store_rows(lw.attn.v(h), v_);
            attune::apply_rope_qk(c_.rope, qv, kv, attune::rope_positions::per_token(b.positions.data()), exec);
            const auto a0 = clock::now();
            store.attend(l, layer_attention{c_.kinds[l], c_.window, c_.sinks ? &lw.attn.sinks : nullptr}, b, qv, kv, vv, ov, exec);
            if (time) time->attention += std::chrono::duration<double>(clock::now() - a0).count();
            matrix att = load_rows(o_, rows, hq * d);
            matrix y = lw.attn.o(att);
            settle<T>(y);
            x += y;
            settle<T>(x);
            h = rms_norm(x, lw.post_norm, c_.rms_eps);
            settle<T>(h);
            y = c_.mlp == mlp_kind::swiglu ? swiglu<T>(lw.mlp, h) : mixture_of_experts<T>(c_, lw.moe, h);
            settle<T>(y);
            x += y;
            settle<T>(x);
        }
        matrix last(b.sequences(), c_.hidden);
        for (int s = 0; s < b.sequences(); ++s) last.row(s) = x.row(b.cu[static_cast<std::size_t>(s) + 1] - 1);
        matrix n = rms_norm(last, w_.norm, c_.rms_eps);
        settle<T>(n);
        matrix logits = n * w_.lm_head.transpose();
        settle<T>(logits);
        if (time) time->total += std::chrono::duration<double>(clock::now() - start).count();
        return logits;
    }

private:
    // Token ids, positions and offsets come from outside: checked before anything runs.
    void check(const batch& b) const {
        const auto fail = [](const std::string& m) { throw load_error("model::forward: " + m); };
        if (b.cu.size() < 2 || b.cu.front() != 0) fail("batch.cu must start at 0 and hold at least one sequence");
        for (std::size_t s = 1; s < b.cu.size(); ++s)
            if (b.cu[s] <= b.cu[s - 1]) fail("batch.cu must increase (every sequence has ≥ 1 row), entry " + std::to_string(s));
        if (b.tokens.size() != static_cast<std::size_t>(b.rows()) || b.positions.size() != b.tokens.size())
            fail("batch.tokens and batch.positions must hold cu.back() entries");
        if (b.requests.size() != static_cast<std::size_t>(b.sequences())) fail("batch.requests must hold one entry per sequence");
        for (std::size_t t = 0; t < b.tokens.size(); ++t) {
            if (b.tokens[t] < 0 || b.tokens[t] >= c_.vocab)
                fail("token " + std::to_string(b.tokens[t]) + " at row " + std::to_string(t) + " is outside the vocabulary");
            if (b.positions[t] < 0) fail("position at row " + std::to_string(t) + " is negative");
        }
    }

    static void store_rows(const matrix& m, std::vector<T>& dst) {
        for (Eigen::Index i = 0; i < m.size(); ++i) dst[static_cast<std::size_t>(i)] = static_cast<T>(m.data()[i]);
    }
    static matrix load_rows(const std::vector<T>& src, attune::index_t rows, attune::index_t cols) {
        matrix m(rows, cols);
        for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = static_cast<float>(src[static_cast<std::size_t>(i)]);
        return m;
    }

    config c_;
    weights w_;
    std::vector<T> q_, k_, v_, o_;  // packed [T, H, D] rows of the layer being run
};

}  // namespace llm
