// Stands in for <btrfsutil.h> outside src/sys/: only the wrappers in src/sys/ may use libbtrfsutil
// (src/meson.build puts this directory first on the include path of the core, the app and every plugin).
#error "<btrfsutil.h>: only src/sys/ may include libbtrfsutil; use (or add) a typed wrapper in src/sys/"
