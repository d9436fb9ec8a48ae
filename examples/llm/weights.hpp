#pragma once
// A decoder's weights, read from model.safetensors by transformers' tensor names, each checked
// against the shape the config gives (a checkpoint of another shape is a load_error naming the
// tensor). Held in float: the checkpoints are bf16 (or f32), which float holds exactly.
#include <algorithm>
#include <string>
#include <vector>

#include <Eigen/Core>
#include <attune/attune.hpp>

#include "config.hpp"
#include "safetensors.hpp"

namespace llm {

/// Rows are tokens, columns features (row-major, so a [T, H·D] activation is attune's packed [T, H, D]).
using matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using row_vector = Eigen::Matrix<float, 1, Eigen::Dynamic>;

/// y = x·Wᵀ + b, W [out, in] as nn.Linear stores it.
struct linear {
    matrix w;
    row_vector b;  ///< empty: no bias

    matrix operator()(const matrix& x) const {
        matrix y(x.rows(), w.rows());
        const Eigen::Index threads = Eigen::nbThreads(), blocks = (w.rows() + 255) / 256;
        if (x.rows() <= 4 && threads > 1 && blocks > 1) {
            // Decode: Eigen runs matrix-vector products on one thread; split W's rows over the threads.
#ifdef _OPENMP
#pragma omp parallel for num_threads(static_cast <int>(threads)) schedule(static)
#endif
            for (Eigen::Index i = 0; i < blocks; ++i) {
                const Eigen::Index first = i * 256, n = std::min<Eigen::Index>(256, w.rows() - first);
                y.middleCols(first, n).noalias() = x * w.middleRows(first, n).transpose();
            }
        } else {
            y.noalias() = x * w.transpose();
        }
        if (b.size() > 0) y.rowwise() += b;
        return y;
    }
};

struct attention_weights {
    linear q, k, v, o;
    attune::sink_logit sinks;  ///< gpt-oss: one logit per query head
};

struct swiglu_weights {
    linear gate, up, down;
};

/// gpt-oss's experts: gate_up [E][H, 2I] (gate and up interleaved by column), down [E][I, H].
struct moe_weights {
    linear router;
    std::vector<matrix> gate_up, down;
    std::vector<row_vector> gate_up_bias, down_bias;
};

struct layer_weights {
    row_vector input_norm, post_norm;
    attention_weights attn;
    swiglu_weights mlp;  ///< mlp_kind::swiglu
    moe_weights moe;     ///< mlp_kind::gpt_oss_moe
};

struct weights {
    matrix embed;  ///< [vocab, hidden]
    matrix lm_head;
    row_vector norm;
    std::vector<layer_weights> layers;
};

namespace detail {

inline matrix read_matrix(const safetensors& f, const std::string& name, std::int64_t rows, std::int64_t cols) {
    const std::vector<float> v = f.floats(name, {rows, cols});
    return Eigen::Map<const matrix>(v.data(), rows, cols);
}

inline row_vector read_vector(const safetensors& f, const std::string& name, std::int64_t n) {
    const std::vector<float> v = f.floats(name, {n});
    return Eigen::Map<const row_vector>(v.data(), n);
}

inline linear read_linear(const safetensors& f, const std::string& name, std::int64_t out, std::int64_t in, bool bias) {
    linear l{read_matrix(f, name + ".weight", out, in), row_vector()};
    if (bias) l.b = read_vector(f, name + ".bias", out);
    return l;
}

}  // namespace detail

/// Reads every tensor the config's architecture needs from `f` (tensors it does not need are ignored).
inline weights load_weights(const config& c, const safetensors& f) {
    using detail::read_linear;
    using detail::read_matrix;
    using detail::read_vector;
    weights w;
    w.embed = read_matrix(f, "model.embed_tokens.weight", c.vocab, c.hidden);
    w.norm = read_vector(f, "model.norm.weight", c.hidden);
    w.lm_head = c.tie_embeddings ? w.embed : read_matrix(f, "lm_head.weight", c.vocab, c.hidden);
    const std::int64_t qd = c.heads * c.head_dim, kvd = c.kv_heads * c.head_dim;
    for (std::int64_t i = 0; i < c.layers; ++i) {
        const std::string p = "model.layers." + std::to_string(i) + ".";
        layer_weights l;
        l.input_norm = read_vector(f, p + "input_layernorm.weight", c.hidden);
        l.post_norm = read_vector(f, p + "post_attention_layernorm.weight", c.hidden);
        l.attn.q = read_linear(f, p + "self_attn.q_proj", qd, c.hidden, c.attention_bias);
        l.attn.k = read_linear(f, p + "self_attn.k_proj", kvd, c.hidden, c.attention_bias);
        l.attn.v = read_linear(f, p + "self_attn.v_proj", kvd, c.hidden, c.attention_bias);
        l.attn.o = read_linear(f, p + "self_attn.o_proj", c.hidden, qd, c.attention_bias);
        if (c.sinks) {
            try {
                l.attn.sinks = attune::sink_logit(f.floats(p + "self_attn.sinks", {c.heads}));
            } catch (const attune::error& e) {  // NaN or +inf in the checkpoint
                throw load_error(p + "self_attn.sinks: " + e.what());
            }
        }
        if (c.mlp == mlp_kind::swiglu) {
            l.mlp.gate = read_linear(f, p + "mlp.gate_proj", c.intermediate, c.hidden, false);
            l.mlp.up = read_linear(f, p + "mlp.up_proj", c.intermediate, c.hidden, false);
            l.mlp.down = read_linear(f, p + "mlp.down_proj", c.hidden, c.intermediate, false);
        } else {
            const std::int64_t e = c.experts, h = c.hidden, m = c.intermediate;
            l.moe.router = read_linear(f, p + "mlp.router", e, h, true);
            const std::vector<float> gu = f.floats(p + "mlp.experts.gate_up_proj", {e, h, 2 * m});
            const std::vector<float> gub = f.floats(p + "mlp.experts.gate_up_proj_bias", {e, 2 * m});
            const std::vector<float> dn = f.floats(p + "mlp.experts.down_proj", {e, m, h});
            const std::vector<float> dnb = f.floats(p + "mlp.experts.down_proj_bias", {e, h});
            for (std::int64_t x = 0; x < e; ++x) {
                l.moe.gate_up.push_back(Eigen::Map<const matrix>(gu.data() + x * h * 2 * m, h, 2 * m));
                l.moe.gate_up_bias.push_back(Eigen::Map<const row_vector>(gub.data() + x * 2 * m, 2 * m));
                l.moe.down.push_back(Eigen::Map<const matrix>(dn.data() + x * m * h, m, h));
                l.moe.down_bias.push_back(Eigen::Map<const row_vector>(dnb.data() + x * h, h));
            }
        }
        w.layers.push_back(std::move(l));
    }
    return w;
}

}  // namespace llm
