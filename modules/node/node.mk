# modules/node: the client daemon (fragment of the top Makefile.am)
node_sources = modules/node/module.c modules/node/node.h modules/node/wireguard.c
if BUILTIN_MODULES
noinst_LTLIBRARIES += modules/node/libmod_node.la
modules_node_libmod_node_la_SOURCES = $(node_sources)
BUILTIN_MODULE_LIBS += modules/node/libmod_node.la
BUILTIN_MODULE_NAMES += node
else
pkglib_LTLIBRARIES += modules/node/node.la
modules_node_node_la_SOURCES = $(node_sources)
modules_node_node_la_LDFLAGS = $(module_ldflags)
endif
