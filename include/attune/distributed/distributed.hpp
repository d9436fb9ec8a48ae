#pragma once
/// @file
/// attune over MPI, for users who link it (CMake: attune::distributed): context-parallel attention
/// of a sequence cut over ranks (context_parallel_attention, shard_plan) and decode over a cache cut
/// over ranks (sharded_decode). Nothing else of attune includes these headers.
#include "attune/distributed/context_parallel.hpp"
#include "attune/distributed/shard_plan.hpp"
#include "attune/distributed/sharded_decode.hpp"
