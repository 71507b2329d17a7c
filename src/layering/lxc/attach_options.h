// Stands in for <lxc/attach_options.h> outside src/sys/: only the wrapper src/sys/lxc.{h,cc} may use liblxc
// (src/meson.build puts this directory first on the include path of the core, the app and every plugin).
#error "<lxc/attach_options.h>: only src/sys/ may include liblxc; use (or add) a typed wrapper in src/sys/lxc.h"
