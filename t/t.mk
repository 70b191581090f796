# t/: TAP tests (fragment of the top Makefile.am). C unit tests link libweftcore.la (LDADD).
EXTRA_DIST += t/tap.h t/lib.sh
