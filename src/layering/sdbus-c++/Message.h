// Stands in for <sdbus-c++/Message.h> outside src/sys/: only the wrappers in src/sys/ may use sdbus-c++
// (src/meson.build puts this directory first on the include path of the core, the app and every plugin).
#error "<sdbus-c++/Message.h>: only src/sys/ may include sdbus-c++; use (or add) a typed wrapper in src/sys/"
