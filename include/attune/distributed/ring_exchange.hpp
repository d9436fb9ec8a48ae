#pragma once
/// @file
/// The ring of Ring Attention (Liu, Zaharia, Abbeel, "Ring Attention with Blockwise Transformers
/// for Near-Infinite Context", 2023): every rank sends the K/V block it holds to rank + 1 and
/// receives rank − 1's, P − 1 times, so that each block visits every rank. Two buffers: while the
/// attention runs on the current block, MPI_Isend passes it on and MPI_Irecv fills the other, so the
/// transfer hides behind the compute when a block's attention takes longer than its transfer
/// (Liu et al., section 3: block size ≥ FLOPS / bandwidth). Messages go in pieces of at most 1 GiB
/// (MPI counts are int). Only the calling thread calls MPI.
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "attune/core/checked.hpp"
#include "attune/core/types.hpp"

namespace attune::distributed {

/// Two byte buffers passed around a ring of ranks (see the top of this file).
class ring_exchange {
public:
    /// A ring over `comm` with buffers of `capacity` bytes each (the largest block of any rank).
    ring_exchange(MPI_Comm comm, std::size_t capacity) : comm_(comm) {
        MPI_Comm_rank(comm, &rank_);
        MPI_Comm_size(comm, &size_);
        // 64 extra bytes: the blocks start 64-byte aligned whatever the vector's own alignment.
        for (auto& b : buffers_) b.resize(capacity + 64);
    }
    ring_exchange(const ring_exchange&) = delete;
    ring_exchange& operator=(const ring_exchange&) = delete;
    ~ring_exchange() { wait(); }  // never leave a request pending over freed buffers

    /// The buffer holding the current block.
    unsigned char* current() noexcept { return aligned(buffers_[current_]); }
    /// Starts passing the current block (`send_bytes`) to rank + 1 and receiving rank − 1's
    /// (`recv_bytes`) into the other buffer; returns at once.
    void start(std::size_t send_bytes, std::size_t recv_bytes) {
        const int next = (rank_ + 1) % size_, prev = (rank_ + size_ - 1) % size_;
        post(aligned(buffers_[1 - current_]), recv_bytes, prev, true);
        post(current(), send_bytes, next, false);
    }
    /// Lets MPI move the posted transfers along (MPI_Testall): most MPI libraries progress a large
    /// message only inside MPI calls, so the caller pokes between its blocks of work.
    void progress() {
        if (requests_.empty()) return;
        int done = 0;
        MPI_Testall(static_cast<int>(requests_.size()), requests_.data(), &done, MPI_STATUSES_IGNORE);
    }
    /// Waits for the transfers start() posted, then makes the received block the current one.
    void finish() {
        wait();
        current_ = 1 - current_;
    }
    /// Seconds spent waiting in finish() since construction (communication not hidden by compute).
    double wait_seconds() const noexcept { return waited_; }

private:
    static constexpr std::size_t piece = std::size_t(1) << 30;
    static constexpr int tag_base = 0x6174;
    static unsigned char* aligned(std::vector<unsigned char>& b) noexcept {
        const auto p = reinterpret_cast<std::uintptr_t>(b.data());
        return b.data() + ((64 - p % 64) % 64);
    }
    void post(unsigned char* data, std::size_t bytes, int peer, bool receive) {
        int tag = tag_base;  // apart from the small tags a program's own messages use
        for (std::size_t at = 0; at < bytes || (at == 0 && bytes == 0); at += piece, ++tag) {
            const int n = static_cast<int>(std::min(piece, bytes - at));
            requests_.emplace_back();
            if (receive) MPI_Irecv(data + at, n, MPI_BYTE, peer, tag, comm_, &requests_.back());
            else MPI_Isend(data + at, n, MPI_BYTE, peer, tag, comm_, &requests_.back());
            if (bytes == 0) break;
        }
    }
    void wait() {
        if (requests_.empty()) return;
        const auto t0 = std::chrono::steady_clock::now();
        MPI_Waitall(static_cast<int>(requests_.size()), requests_.data(), MPI_STATUSES_IGNORE);
        waited_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        requests_.clear();
    }

    MPI_Comm comm_;
    int rank_ = 0, size_ = 1;
    std::vector<unsigned char> buffers_[2];
    int current_ = 0;
    std::vector<MPI_Request> requests_;
    double waited_ = 0.0;
};

}  // namespace attune::distributed
