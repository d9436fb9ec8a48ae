#pragma once
/// @file
/// The MPI side of attune's distributed calls: checking a communicator and MPI's thread level, and
/// agreeing on the arguments collectively before any exchange. A call whose arguments are wrong on
/// one rank must throw on every rank: a rank that threw while the others enter a ring step would
/// leave them waiting forever. So each call first checks its arguments locally, then every rank
/// publishes (ok, signature, per-rank fields) in one MPI_Allgather; any rank that failed, or a
/// signature that differs between ranks (shapes, types, mask parameters), makes every rank throw
/// attune::error, the failing rank with its own message. Requires MPI initialised with at least
/// MPI_THREAD_FUNNELED: only the calling thread talks MPI, the executor's threads compute.
#include <mpi.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "attune/core/error.hpp"
#include "attune/core/types.hpp"

namespace attune::distributed {

namespace detail {
using attune::detail::fail;
using attune::detail::require;

/// Throws attune::error unless MPI is initialised (not finalised) with at least
/// MPI_THREAD_FUNNELED and `comm` is a valid intra-communicator; returns {rank, size}. Local: a
/// rank that passes MPI_COMM_NULL while the others pass a communicator cannot tell them.
inline std::pair<int, int> check_communicator(MPI_Comm comm, const char* who) {
    int initialized = 0, finalized = 0;
    MPI_Initialized(&initialized);
    MPI_Finalized(&finalized);
    require(initialized != 0 && finalized == 0, who, ": MPI is not initialised (call MPI_Init_thread first) or already finalised");
    int level = MPI_THREAD_SINGLE;
    MPI_Query_thread(&level);
    require(level >= MPI_THREAD_FUNNELED, who, ": MPI was initialised at thread level ", level,
            "; attune's executor threads need at least MPI_THREAD_FUNNELED (MPI_Init_thread)");
    require(comm != MPI_COMM_NULL, who, ": comm is MPI_COMM_NULL");
    int inter = 0;
    MPI_Comm_test_inter(comm, &inter);
    require(inter == 0, who, ": comm is an inter-communicator; an intra-communicator is needed");
    int rank = 0, size = 0;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    require(size >= 1, who, ": comm has size ", size);
    return {rank, size};
}

/// What every rank published in agree(): fields()[r] are rank r's per-rank fields.
class agreement {
public:
    agreement(std::vector<std::int64_t> table, std::size_t width, std::size_t shared, int ranks)
        : table_(std::move(table)), width_(width), shared_(shared), ranks_(ranks) {}
    /// Per-rank field `i` of rank `r`.
    std::int64_t field(int r, std::size_t i) const { return table_[static_cast<std::size_t>(r) * width_ + 1 + shared_ + i]; }
    int ranks() const noexcept { return ranks_; }

private:
    std::vector<std::int64_t> table_;
    std::size_t width_, shared_;
    int ranks_;
};

/// One MPI_Allgather of (ok, shared signature, per-rank fields) from every rank. Throws
/// attune::error on every rank when any rank's `local_error` is non-empty (that rank: its own
/// message) or when the shared signatures differ (naming the first field that does, from `names`).
inline agreement agree(MPI_Comm comm, const char* who, const std::string& local_error, const std::vector<std::int64_t>& shared,
                       const std::vector<const char*>& names, const std::vector<std::int64_t>& per_rank) {
    int rank = 0, size = 0;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    const std::size_t width = 1 + shared.size() + per_rank.size();
    std::vector<std::int64_t> mine;
    mine.reserve(width);
    mine.push_back(local_error.empty() ? 1 : 0);
    mine.insert(mine.end(), shared.begin(), shared.end());
    mine.insert(mine.end(), per_rank.begin(), per_rank.end());
    std::vector<std::int64_t> table(width * static_cast<std::size_t>(size));
    MPI_Allgather(mine.data(), static_cast<int>(width), MPI_INT64_T, table.data(), static_cast<int>(width), MPI_INT64_T, comm);
    if (!local_error.empty()) throw attune::error(local_error);
    for (int r = 0; r < size; ++r)
        require(table[static_cast<std::size_t>(r) * width] == 1, who, ": rank ", r, " rejected its arguments (its error names them)");
    for (int r = 1; r < size; ++r)
        for (std::size_t i = 0; i < shared.size(); ++i)
            require(table[static_cast<std::size_t>(r) * width + 1 + i] == table[1 + i], who, ": ranks 0 and ", r, " disagree on ",
                    i < names.size() ? names[i] : "an argument", " (", table[1 + i], " vs ",
                    table[static_cast<std::size_t>(r) * width + 1 + i], ")");
    return agreement(std::move(table), width, shared.size(), size);
}

/// Every rank's `ok` (after checks that depend on what agree() returned), in one MPI_Allreduce:
/// throws attune::error on every rank unless all are ok (the failing rank rethrows its message).
inline void agree_ok(MPI_Comm comm, const char* who, const std::string& local_error) {
    int ok = local_error.empty() ? 1 : 0, all = 0;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, comm);
    if (!local_error.empty()) throw attune::error(local_error);
    require(all == 1, who, ": another rank rejected its arguments (its error names them)");
}

/// Runs `f`, returning the message of the attune::error it throws (empty: none).
template <class F>
std::string error_of(F&& f) {
    try {
        f();
    } catch (const attune::error& e) {
        return e.what();
    }
    return {};
}

// A 64-bit FNV-1a hash, for signatures of tables (a document mask's ids).
inline std::int64_t hash_bytes(const void* data, std::size_t n, std::uint64_t h = 1469598103934665603ull) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
    return static_cast<std::int64_t>(h);
}

}  // namespace detail

}  // namespace attune::distributed
