// Stands in for <libmount/libmount.h> outside src/sys/: only the wrappers in src/sys/ may use libmount
// (src/meson.build puts this directory first on the include path of the core, the app and every plugin).
#error "<libmount/libmount.h>: only src/sys/ may include libmount; use (or add) a typed wrapper in src/sys/"
