// Stands in for <libvirt/libvirt.h> outside src/sys/: only the wrapper src/sys/libvirt.{h,cc} may use libvirt's
// C API (src/meson.build puts this directory first on the include path of the core, the app and every plugin).
#error "<libvirt/virterror.h>: only src/sys/ may include libvirt; use (or extend) the wrapper in src/sys/libvirt.h"
