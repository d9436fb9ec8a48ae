# attune_warnings: the warning set for attune's own targets (tests, benchmarks, examples).
# ATTUNE_WERROR turns them into errors; CI sets it.
option(ATTUNE_WERROR "Treat warnings as errors in attune's own targets" OFF)
add_library(attune_warnings INTERFACE)
target_compile_options(attune_warnings INTERFACE -Wall -Wextra $<$<BOOL:${ATTUNE_WERROR}>:-Werror>)
