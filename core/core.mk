# core/: the shared runtime (fragment of the top Makefile.am)
libweftcore_la_SOURCES += \
	core/log.c core/log.h \
	core/version.h
libweftcore_la_SOURCES += \
	core/cfg.c core/cfg.h \
	core/module.c core/module.h \
	core/cli.c core/cli.h \
	core/verbs.c core/verbs.h \
	core/ctx.h
