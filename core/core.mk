# core/: the shared runtime (fragment of the top Makefile.am)
libweftcore_la_SOURCES += \
	core/log.c core/log.h \
	core/version.h
