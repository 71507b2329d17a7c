// Stands in for <libfdisk/libfdisk.h> outside src/sys/: only the wrappers in src/sys/ may use libfdisk
// (src/meson.build puts this directory first on the include path of the core, the app and every plugin).
#error "<libfdisk/libfdisk.h>: only src/sys/ may include libfdisk; use (or add) a typed wrapper in src/sys/"
