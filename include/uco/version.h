/* uco — version of the headers and of the library. */
#ifndef UCO_VERSION_H
#define UCO_VERSION_H

#include <uco/common.h>

#define UCO_VERSION_MAJOR  0
#define UCO_VERSION_MINOR  1
#define UCO_VERSION_PATCH  0
#define UCO_VERSION_STRING "0.1.0"

/* True when the headers are at least version major.minor.patch. */
#define UCO_CHECK_VERSION(major, minor, patch)                                                     \
    (UCO_VERSION_MAJOR > (major) ||                                                                \
     (UCO_VERSION_MAJOR == (major) && UCO_VERSION_MINOR > (minor)) ||                              \
     (UCO_VERSION_MAJOR == (major) && UCO_VERSION_MINOR == (minor) &&                              \
      UCO_VERSION_PATCH >= (patch)))

UCO_BEGIN_DECLS

/* Version of the library actually linked, as "major.minor.patch". Never fails. */
UCO_API const char *uco_version(void);

UCO_END_DECLS

#endif
