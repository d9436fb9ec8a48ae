#pragma once
// One exception type for every misuse of the library, so callers catch `attune::error` and read
// a message that names the offending argument.
#include <sstream>
#include <stdexcept>
#include <string>

namespace attune {

/// The exception every misuse of the library throws (bad shapes, strides, options or policy
/// parameters); what() names the offending argument.
class error : public std::invalid_argument {
public:
    using std::invalid_argument::invalid_argument;  ///< constructs from the message
};

namespace detail {
template <class... Parts>
[[noreturn]] inline void fail(const Parts&... parts) {
    std::ostringstream os;
    os << "attune: ";
    (os << ... << parts);
    throw error(os.str());
}

// require(cond, "what", ...) throws attune::error with the concatenated message when cond is false.
template <class... Parts>
inline void require(bool cond, const Parts&... parts) {
    if (!cond) fail(parts...);
}
}  // namespace detail
}  // namespace attune
