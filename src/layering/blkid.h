// Stands in for <blkid.h> outside src/sys/: only the wrappers in src/sys/ may use libblkid
// (src/meson.build puts this directory first on the include path of the core, the app and every plugin).
#error "<blkid.h>: only src/sys/ may include libblkid; use (or add) a typed wrapper in src/sys/"
