#pragma once
// Every built-in mask (no_mask and causal come with attune.hpp).
#include "attune/mask/none.hpp"
#include "attune/mask/causal.hpp"
#include "attune/mask/interval.hpp"
#include "attune/mask/traits.hpp"
#include "attune/mask/sliding_window.hpp"
#include "attune/mask/sinks_window.hpp"
#include "attune/mask/document.hpp"
#include "attune/mask/block_sparse.hpp"
#include "attune/mask/combine.hpp"
#include "attune/mask/prefix_sharing.hpp"
#include "attune/mask/region.hpp"
#include "attune/mask/duo_heads.hpp"
