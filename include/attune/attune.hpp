#pragma once
// The one include for users of attune.
#include "attune/version.hpp"
#include "attune/core/error.hpp"
#include "attune/core/types.hpp"
#include "attune/core/view.hpp"
#include "attune/core/row_state.hpp"
#include "attune/exec/executor.hpp"
#include "attune/mask/none.hpp"
#include "attune/mask/causal.hpp"
#include "attune/variant.hpp"
#include "attune/attention.hpp"
#include "attune/merge.hpp"
