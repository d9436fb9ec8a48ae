#pragma once
// The library's version.
#define ATTUNE_VERSION_MAJOR 0         ///< major version
#define ATTUNE_VERSION_MINOR 1         ///< minor version
#define ATTUNE_VERSION_PATCH 0         ///< patch version
#define ATTUNE_VERSION_STRING "0.1.0"  ///< the version as a string
