#pragma once
// Shared helpers of attune's tests: owning tensors with any layout (B,H,L,D, B,L,H,D, padded rows),
// random fills with fixed seeds, NaN poisoning, comparison against the double-precision reference,
// and a small std::thread pool for pool_executor.
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <limits>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "attune/attune.hpp"
#include "attune/reference/softmax.hpp"

namespace attune_test {

using attune::index_t;

enum class layout { bhld, blhd };

inline const char* layout_name(layout l) { return l == layout::bhld ? "bhld" : "blhd"; }

// An owning 4-D tensor [batch, heads, tokens, dim] whose view has the requested layout. `pad` extra
// elements sit after every row, after every head/token block and after every batch, so a kernel that
// reads or writes outside the view meets (or clobbers) them. The buffer is 64-byte aligned, as
// PyTorch's tensors are; the view starts `offset` elements into it (e.g. 1: rows off every vector
// boundary).
template <class T>
struct tensor {
    std::vector<T, xsimd::aligned_allocator<T, 64>> buf;
    attune::tensor_view<T> view;
    std::vector<bool> inside;  // buffer index → element of the view

    tensor(index_t B, index_t H, index_t L, index_t D, layout lay = layout::bhld, index_t pad = 0, index_t offset = 0) {
        std::array<index_t, 3> st{};
        const index_t row = D + pad;
        if (lay == layout::bhld) {
            st[2] = row;
            st[1] = L * row + pad;
            st[0] = H * st[1] + pad;
        } else {
            st[1] = row;
            st[2] = H * row + pad;
            st[0] = L * st[2] + pad;
        }
        buf.assign(static_cast<std::size_t>(offset + B * st[0] + pad + 1), attune::from_float<T>(0.0f));
        view = attune::tensor_view<T>(buf.data() + offset, {B, H, L, D}, st);
        inside.assign(buf.size(), false);
        for (index_t b = 0; b < B; ++b)
            for (index_t h = 0; h < H; ++h)
                for (index_t t = 0; t < L; ++t)
                    for (index_t d = 0; d < D; ++d) inside[static_cast<std::size_t>(&view(b, h, t, d) - buf.data())] = true;
    }
    attune::tensor_view<const T> cview() const { return attune::tensor_view<const T>(view); }

    // Elements of the view ~ N(0, sigma²) (rounded to T); padding gets NaN, so reading it shows.
    void fill_random(std::mt19937& rng, float sigma = 1.0f) {
        std::normal_distribution<float> dist(0.0f, sigma);
        for (std::size_t i = 0; i < buf.size(); ++i)
            buf[i] = attune::from_float<T>(inside[i] ? dist(rng) : std::numeric_limits<float>::quiet_NaN());
    }
    // Every element, view and padding, becomes NaN.
    void poison() {
        for (auto& x : buf) x = attune::from_float<T>(std::numeric_limits<float>::quiet_NaN());
    }
    // Buffer elements outside the view that are no longer NaN (something wrote there).
    index_t clobbered_padding() const {
        index_t n = 0;
        for (std::size_t i = 0; i < buf.size(); ++i)
            if (!inside[i] && !std::isnan(attune::to_float(buf[i]))) ++n;
        return n;
    }
    index_t nan_count() const {
        index_t n = 0;
        for (std::size_t i = 0; i < buf.size(); ++i)
            if (inside[i] && std::isnan(attune::to_float(buf[i]))) ++n;
        return n;
    }
};

// A contiguous LSE output [B, H, L, 1], poisoned with NaN.
struct lse_buffer {
    std::vector<float> data;
    attune::tensor_view<float> view;
    lse_buffer(index_t B, index_t H, index_t L)
        : data(static_cast<std::size_t>(B * H * L > 0 ? B * H * L : 1), std::numeric_limits<float>::quiet_NaN()),
          view(attune::lse_view(data.data(), B, H, L)) {}
};

// Error bounds of one comparison against the double-precision reference.
//   per element: |ours − ref| ≤ max_abs + rel_elem·|ref|
//   whole output: ‖ours − ref‖₂ / ‖ref‖₂ ≤ rel_l2
//   LSE: |ours − ref| ≤ lse_abs (rows with nothing visible must be exactly −inf)
struct tolerance {
    double max_abs = 1e-4;
    double rel_l2 = 1e-5;
    double rel_elem = 0.0;
    double lse_abs = 1e-4;
};

// float32 compute, float32 output: golden/README.md's bound.
inline tolerance fp32_tolerance() { return {}; }
// Outputs stored as bf16 (8 significant bits): round-to-nearest adds up to 2^-9 relative per
// element, so the per-element bound gains 2^-8·|ref| (twice the rounding, for the float error
// underneath) and the relative L2 bound becomes 2^-8.
inline tolerance bf16_out_tolerance() { return {1e-4, 1.0 / 256, 1.0 / 256, 1e-4}; }
// Outputs stored as half (11 significant bits): half-ulp is 2^-12 relative; bound 2^-10 likewise.
// |out| here is O(1), far above half's subnormal range, so no extra absolute term is needed.
inline tolerance half_out_tolerance() { return {1e-4, 1.0 / 1024, 1.0 / 1024, 1e-4}; }

// bf16 Q, K, V and output where AMX runs: P·V on the tiles from weights rounded to bf16
// (attune/simd/amx.hpp). Each weight moves by at most 2^-9 of itself, so an output element by at
// most 2^-9·Σ w|v| (over the row sum for softmax); `weighted_abs_max` is that sum's largest value
// over the output: max|v| for softmax, in general the reference run on |V|.
template <class TQ, class TK, class TV, class TO>
tolerance with_rounded_weights(tolerance t, double weighted_abs_max) {
    using attune::bf16;
    if constexpr (std::is_same_v<TQ, bf16> && std::is_same_v<TK, bf16> && std::is_same_v<TV, bf16> && std::is_same_v<TO, bf16>)
        if (attune::simd::amx_active()) t.max_abs += weighted_abs_max / 512;
    return t;
}

template <class T>
tolerance output_tolerance() {
    if constexpr (std::is_same_v<T, attune::bf16>) return bf16_out_tolerance();
    else if constexpr (std::is_same_v<T, attune::half>) return half_out_tolerance();
    else return fp32_tolerance();
}

// Compares an output view (and optionally an LSE buffer) with the reference; every element must have
// been written (no NaN left from the poison) and nothing outside the view touched.
template <class T>
void check_against_reference(const tensor<T>& out, const attune::reference::result& ref, const tolerance& tol,
                             const lse_buffer* lse = nullptr) {
    const auto& v = out.view;
    REQUIRE(ref.batch == v.batch());
    REQUIRE(ref.heads == v.heads());
    REQUIRE(ref.tokens == v.tokens());
    REQUIRE(ref.dim == v.dim());
    double max_err = 0.0, err2 = 0.0, ref2 = 0.0;
    index_t unwritten = 0, over = 0;
    std::string worst;
    for (index_t b = 0; b < v.batch(); ++b)
        for (index_t h = 0; h < v.heads(); ++h)
            for (index_t t = 0; t < v.tokens(); ++t)
                for (index_t d = 0; d < v.dim(); ++d) {
                    const double o = static_cast<double>(attune::to_float(v(b, h, t, d)));
                    const double r = ref.at(b, h, t, d);
                    if (std::isnan(o)) {
                        ++unwritten;
                        continue;
                    }
                    const double e = std::abs(o - r);
                    err2 += e * e;
                    ref2 += r * r;
                    if (e > tol.max_abs + tol.rel_elem * std::abs(r)) {
                        if (over++ == 0) {
                            std::ostringstream os;
                            os << "first element out of bounds at [" << b << "," << h << "," << t << "," << d << "]: ours " << o << " ref "
                               << r;
                            worst = os.str();
                        }
                    }
                    if (e > max_err) max_err = e;
                }
    const double rel_l2 = ref2 > 0.0 ? std::sqrt(err2 / ref2) : std::sqrt(err2);
    INFO("max abs error " << max_err << ", rel L2 error " << rel_l2 << "; " << worst);
    CHECK(unwritten == 0);
    CHECK(out.clobbered_padding() == 0);
    CHECK(over == 0);
    CHECK(rel_l2 <= tol.rel_l2);
    if (lse != nullptr) {
        index_t bad = 0, nan = 0;
        double lse_err = 0.0;
        std::string first;
        for (index_t b = 0; b < v.batch(); ++b)
            for (index_t h = 0; h < v.heads(); ++h)
                for (index_t t = 0; t < v.tokens(); ++t) {
                    const float ours = *lse->view.row(b, h, t);
                    const double r = ref.lse_at(b, h, t);
                    if (std::isnan(ours)) {
                        ++nan;
                        continue;
                    }
                    const bool ok = std::isinf(r) ? (ours == static_cast<float>(r)) : std::abs(ours - r) <= tol.lse_abs;
                    if (!std::isinf(r)) lse_err = std::max(lse_err, std::abs(ours - r));
                    if (!ok && bad++ == 0) {
                        std::ostringstream os;
                        os << "LSE at [" << b << "," << h << "," << t << "]: ours " << ours << " ref " << r;
                        first = os.str();
                    }
                }
        INFO("max LSE error " << lse_err << "; " << first);
        CHECK(nan == 0);
        CHECK(bad == 0);
    }
}

// Largest |a − b| between two outputs of the same shape (NaN counts as infinite).
template <class T>
double max_difference(const tensor<T>& a, const tensor<T>& b) {
    double m = 0.0;
    const auto& v = a.view;
    for (index_t bb = 0; bb < v.batch(); ++bb)
        for (index_t h = 0; h < v.heads(); ++h)
            for (index_t t = 0; t < v.tokens(); ++t)
                for (index_t d = 0; d < v.dim(); ++d) {
                    const double x = attune::to_float(a.view(bb, h, t, d)), y = attune::to_float(b.view(bb, h, t, d));
                    const double e = (std::isnan(x) || std::isnan(y)) ? std::numeric_limits<double>::infinity() : std::abs(x - y);
                    m = std::max(m, e);
                }
    return m;
}

// A fixed-size pool of std::threads: run(n, body) hands out indices through an atomic counter,
// the calling thread helps, and it returns when all n are done. For attune::pool_executor.
class thread_pool {
public:
    explicit thread_pool(int threads) {
        for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { loop(); });
    }
    ~thread_pool() {
        {
            std::lock_guard<std::mutex> g(mu_);
            stop_ = true;
        }
        cv_.notify_all();
        for (auto& t : workers_) t.join();
    }
    thread_pool(const thread_pool&) = delete;
    thread_pool& operator=(const thread_pool&) = delete;

    int size() const { return static_cast<int>(workers_.size()); }
    std::size_t calls() const { return calls_; }
    // Distinct threads that ran at least one item since construction (the caller included).
    std::size_t threads_used() const {
        std::lock_guard<std::mutex> g(mu_);
        return seen_.size();
    }

    void run(index_t n, const std::function<void(index_t)>& body) {
        std::unique_lock<std::mutex> lk(mu_);
        ++calls_;
        body_ = &body;
        n_ = n;
        next_ = 0;
        done_ = 0;
        ++generation_;
        lk.unlock();
        cv_.notify_all();
        work();
        lk.lock();
        done_cv_.wait(lk, [&] { return done_ == n_ && active_ == 0; });
        body_ = nullptr;
    }

private:
    void work() {
        for (;;) {
            const index_t i = next_.fetch_add(1);
            if (i >= n_) return;
            {
                std::lock_guard<std::mutex> g(mu_);
                bool found = false;
                for (auto id : seen_) found = found || id == std::this_thread::get_id();
                if (!found) seen_.push_back(std::this_thread::get_id());
            }
            (*body_)(i);
            std::lock_guard<std::mutex> g(mu_);
            if (++done_ == n_) done_cv_.notify_all();
        }
    }
    void loop() {
        std::uint64_t seen_gen = 0;
        for (;;) {
            std::unique_lock<std::mutex> lk(mu_);
            cv_.wait(lk, [&] { return stop_ || (generation_ != seen_gen && body_ != nullptr); });
            if (stop_) return;
            seen_gen = generation_;
            ++active_;  // run() waits until every worker has left work(): n_ and body_ stay put
            lk.unlock();
            work();
            lk.lock();
            --active_;
            done_cv_.notify_all();
        }
    }

    std::vector<std::thread> workers_;
    mutable std::mutex mu_;
    std::condition_variable cv_, done_cv_;
    const std::function<void(index_t)>* body_ = nullptr;
    std::atomic<index_t> next_{0};
    index_t n_ = 0, done_ = 0, active_ = 0;
    std::uint64_t generation_ = 0;
    std::size_t calls_ = 0;
    bool stop_ = false;
    std::vector<std::thread::id> seen_;
};

// An executor that reports `w` workers (any value, index max and negatives included) and runs its
// items serially, last to first (any order is allowed), recording how many it was given in *items
// when that is set.
struct reversed_executor {
    index_t w;
    index_t* items = nullptr;
    index_t workers() const noexcept { return w; }
    template <class F>
    void parallel_for(index_t n, F&& f) const {
        if (items != nullptr) *items = n;
        for (index_t i = n - 1; i >= 0; --i) f(i);
    }
};

inline attune::pool_executor make_pool_executor(thread_pool& pool) {
    return attune::pool_executor(pool.size() + 1, [&pool](index_t n, const attune::pool_executor::body_type& body) { pool.run(n, body); });
}

}  // namespace attune_test
