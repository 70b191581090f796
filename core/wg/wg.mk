# core/wg: fragment of the top Makefile.am (paths from the top)
