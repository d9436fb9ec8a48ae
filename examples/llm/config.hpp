#pragma once
// A decoder's shape and layer kinds, read from a Hugging Face config.json. One runner covers three
// architectures of transformers' model code; what tells them apart is data:
//   llama    every layer causal over the whole history, a SwiGLU MLP
//   mistral  every layer a sliding window (`sliding_window` tokens, the query's own included)
//   gpt_oss  `layer_types` alternating sliding and full layers, a learned sink logit per query head,
//            biases on the projections, a mixture of experts with gpt-oss's clamped SwiGLU
// Qwen2/Qwen3 configs (`layer_types` with a window, or none) read as llama or mistral.
#include <cmath>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <attune/attune.hpp>

#include "json.hpp"

namespace llm {

/// What a layer's attention sees.
enum class layer_kind {
    full,     ///< causal over the whole history
    sliding,  ///< causal over the last `window` tokens, the query's own included
};

/// The MLP of every layer.
enum class mlp_kind {
    swiglu,       ///< down(silu(gate(x)) · up(x)) (Llama, Mistral, Qwen)
    gpt_oss_moe,  ///< top-k of E experts, each (clamp(up) + 1) · g·σ(α·g) with g = min(gate, limit)
};

struct config {
    std::string model_type;
    std::int64_t vocab = 0, hidden = 0, intermediate = 0, layers = 0;
    std::int64_t heads = 0, kv_heads = 0, head_dim = 0;
    double rms_eps = 1e-6;
    attune::rope rope;
    std::vector<layer_kind> kinds;  ///< one per layer
    std::int64_t window = 0;        ///< sliding layers' window W (tokens, the query's own included)
    bool attention_bias = false;    ///< q/k/v/o projections have biases
    bool sinks = false;             ///< a learned sink logit per query head (gpt-oss)
    bool tie_embeddings = false;    ///< the LM head is the embedding matrix
    mlp_kind mlp = mlp_kind::swiglu;
    std::int64_t experts = 0, experts_per_token = 0;  ///< gpt_oss_moe
    double swiglu_alpha = 1.702, swiglu_limit = 7.0;  ///< gpt_oss_moe

    /// A sliding layer's mask in attune's (left, right) convention: W tokens including the query.
    attune::sliding_window window_mask() const { return attune::causal_window_of(window); }
};

namespace detail {

inline std::int64_t positive(const json& j, const char* key, const std::string& src) {
    const std::int64_t v = j.at(key).as_int64();
    if (v <= 0 || v > (std::int64_t(1) << 24)) throw load_error(src + ": " + key + " must lie in [1, 2^24], got " + std::to_string(v));
    return v;
}

inline double number_or(const json& j, const char* key, double fallback) {
    const json* v = j.find(key);
    return v && !v->is_null() ? v->as_double() : fallback;
}

// transformers 5 keeps θ and the scaling in rope_parameters; 4.x in rope_theta and rope_scaling.
inline attune::rope read_rope(const json& j, std::int64_t head_dim, const std::string& src) {
    attune::rope r;
    r.head_dim = head_dim;
    const json* params = j.find("rope_parameters");
    if (params && params->is_null()) params = nullptr;
    const json* scaling = j.find("rope_scaling");
    if (scaling && scaling->is_null()) scaling = nullptr;
    const json& p = params ? *params : (scaling ? *scaling : j);
    r.theta = number_or(p, "rope_theta", number_or(j, "rope_theta", 10000.0));
    if (const json* partial = j.find("partial_rotary_factor"); partial && !partial->is_null())
        r.rotary_dim = static_cast<attune::index_t>(std::llround(partial->as_double() * static_cast<double>(head_dim)));
    const json* type = p.find("rope_type");
    if (!type) type = p.find("type");
    const std::string t = type ? type->as_string() : "default";
    if (t == "default") return r;
    r.factor = number_or(p, "factor", 1.0);
    if (const json* o = p.find("original_max_position_embeddings"); o && !o->is_null()) r.original_max_position_embeddings = o->as_int64();
    else if (const json* m = j.find("max_position_embeddings")) r.original_max_position_embeddings = m->as_int64();
    if (t == "linear") {
        r.scaling = attune::rope_scaling::linear;
    } else if (t == "dynamic") {
        r.scaling = attune::rope_scaling::ntk;
    } else if (t == "yarn") {
        r.scaling = attune::rope_scaling::yarn;
        r.beta_fast = number_or(p, "beta_fast", 32.0);
        r.beta_slow = number_or(p, "beta_slow", 1.0);
        r.attention_factor = number_or(p, "attention_factor", 0.0);
        r.mscale = number_or(p, "mscale", 0.0);
        r.mscale_all_dim = number_or(p, "mscale_all_dim", 0.0);
        if (const json* tr = p.find("truncate"); tr && !tr->is_null()) r.truncate = tr->as_bool();
    } else if (t == "llama3") {
        r.scaling = attune::rope_scaling::llama3;
        r.low_freq_factor = number_or(p, "low_freq_factor", 1.0);
        r.high_freq_factor = number_or(p, "high_freq_factor", 4.0);
    } else {
        throw load_error(src + ": rope_type \"" + t + "\" is not one this runner knows (default, linear, dynamic, yarn, llama3)");
    }
    return r;
}

}  // namespace detail

/// Reads and checks a config.json (`source` names it in errors).
inline config parse_config(const std::string& text, const std::string& source) {
    const json j = json::parse(text, source);
    config c;
    c.model_type = j.at("model_type").as_string();
    const bool llama = c.model_type == "llama" || c.model_type == "qwen2" || c.model_type == "qwen3";
    const bool mistral = c.model_type == "mistral";
    const bool gpt_oss = c.model_type == "gpt_oss";
    if (!llama && !mistral && !gpt_oss)
        throw load_error(source + ": model_type \"" + c.model_type +
                         "\" is not one this runner knows (llama, mistral, qwen2, qwen3, gpt_oss)");
    c.vocab = detail::positive(j, "vocab_size", source);
    c.hidden = detail::positive(j, "hidden_size", source);
    c.intermediate = detail::positive(j, "intermediate_size", source);
    c.layers = detail::positive(j, "num_hidden_layers", source);
    c.heads = detail::positive(j, "num_attention_heads", source);
    const json* kvh = j.find("num_key_value_heads");
    c.kv_heads = kvh && !kvh->is_null() ? detail::positive(j, "num_key_value_heads", source) : c.heads;
    if (c.heads % c.kv_heads != 0)
        throw load_error(source + ": num_attention_heads (" + std::to_string(c.heads) + ") is not a multiple of num_key_value_heads (" +
                         std::to_string(c.kv_heads) + ")");
    const json* hd = j.find("head_dim");
    c.head_dim = hd && !hd->is_null() ? detail::positive(j, "head_dim", source) : c.hidden / c.heads;
    if (c.head_dim <= 0 || c.head_dim % 2 != 0) throw load_error(source + ": head_dim must be even and ≥ 2");
    c.rms_eps = detail::number_or(j, "rms_norm_eps", 1e-6);
    if (!(c.rms_eps > 0 && std::isfinite(c.rms_eps))) throw load_error(source + ": rms_norm_eps must be finite and > 0");
    c.rope = detail::read_rope(j, c.head_dim, source);
    try {
        (void)attune::rope_frequencies(c.rope, 1);  // checks every field the scaling uses
    } catch (const attune::error& e) {
        throw load_error(source + ": " + e.what());
    }
    c.attention_bias = gpt_oss || (j.find("attention_bias") && j.at("attention_bias").as_bool());
    c.tie_embeddings = j.find("tie_word_embeddings") && j.at("tie_word_embeddings").as_bool();
    if (const json* act = j.find("hidden_act"); act && act->as_string() != "silu")
        throw load_error(source + ": hidden_act \"" + act->as_string() + "\": this runner's MLP is SwiGLU (silu)");

    const json* sw = j.find("sliding_window");
    const bool has_window = sw && !sw->is_null();
    if (has_window) c.window = detail::positive(j, "sliding_window", source);
    c.kinds.assign(static_cast<std::size_t>(c.layers), layer_kind::full);
    if (const json* types = j.find("layer_types"); types && !types->is_null()) {
        if (types->size() != static_cast<std::size_t>(c.layers))
            throw load_error(source + ": layer_types has " + std::to_string(types->size()) + " entries for " + std::to_string(c.layers) +
                             " layers");
        for (std::size_t i = 0; i < types->size(); ++i) {
            const std::string& t = (*types)[i].as_string();
            if (t == "sliding_attention") c.kinds[i] = layer_kind::sliding;
            else if (t != "full_attention") throw load_error(source + ": layer_types[" + std::to_string(i) + "] is \"" + t + "\"");
        }
    } else if (mistral && has_window) {
        c.kinds.assign(static_cast<std::size_t>(c.layers), layer_kind::sliding);
    }
    for (layer_kind k : c.kinds)
        if (k == layer_kind::sliding && !has_window) throw load_error(source + ": a sliding_attention layer but no sliding_window");

    if (gpt_oss) {
        c.sinks = true;
        c.mlp = mlp_kind::gpt_oss_moe;
        c.experts = detail::positive(j, "num_local_experts", source);
        c.experts_per_token = detail::positive(j, "num_experts_per_tok", source);
        if (c.experts_per_token > c.experts) throw load_error(source + ": num_experts_per_tok exceeds num_local_experts");
        c.swiglu_alpha = detail::number_or(j, "swiglu_alpha", 1.702);
        c.swiglu_limit = detail::number_or(j, "swiglu_limit", 7.0);
    }
    return c;
}

/// Reads `dir`/config.json.
inline config load_config(const std::string& dir) {
    const std::string path = dir + "/config.json";
    std::ifstream f(path, std::ios::binary);
    if (!f) throw load_error(path + ": cannot open");
    std::ostringstream s;
    s << f.rdbuf();
    return parse_config(s.str(), path);
}

}  // namespace llm
