# SPDX-License-Identifier: BSD-3-Clause
# conf/: what a packager installs besides the binary (fragment of the top Makefile.am)
# The documented examples go to the documentation; only weft.yaml goes to $(sysconfdir)/weft/.
examplesdir = $(docdir)/examples
example_configs = conf/examples/single-box.yaml conf/examples/lan.yaml conf/examples/control.yaml \
	conf/examples/derp.yaml \
	conf/examples/node.yaml
dist_examples_DATA = $(example_configs)
dist_man8_MANS = conf/weft.8
systemdsystemunit_DATA = conf/systemd/weft@.service conf/systemd/weft.service
nodeunitdropindir = $(systemdsystemunitdir)/weft@node.service.d
dist_nodeunitdropin_DATA = conf/systemd/weft@node.service.d/node.conf
# the system user (sysusers.d) and the runtime and state directories (tmpfiles.d), each as weft.conf
sysusers_DATA = conf/systemd/weft.sysusers
tmpfiles_DATA = conf/systemd/weft.tmpfiles
bashcompletion_DATA = conf/weft.bash-completion
EXTRA_DIST += conf/weft.yaml conf/weft.default conf/version.sh conf/systemd/weft@.service.in \
	conf/systemd/weft.service.in $(sysusers_DATA) $(tmpfiles_DATA) $(bashcompletion_DATA)
CLEANFILES += conf/systemd/weft@.service conf/systemd/weft.service
# the Debian packaging (dpkg-buildpackage -us -uc in the unpacked tarball or a checkout)
EXTRA_DIST += debian/changelog debian/control debian/copyright debian/rules debian/source/format \
	debian/weft.install debian/weft-node.install debian/weft-postgres.install debian/weft.postinst debian/weft.postrm debian/weft-node.postrm \
	debian/weft.lintian-overrides

conf/systemd/%.service: $(srcdir)/conf/systemd/%.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) $(@D) && sed -e 's|@bindir[@]|$(bindir)|g' $< > $@-t && mv $@-t $@

# Installed under the names the tools look for: sysusers.d/weft.conf, tmpfiles.d/weft.conf, completions/weft.
# /etc/weft/weft.yaml: a file already there (edited by its admin) is kept, and uninstall removes it only
# when unchanged.
install-data-hook: install-conf-renames
install-conf-renames:
	cd '$(DESTDIR)$(sysusersdir)' && mv -f weft.sysusers weft.conf
	cd '$(DESTDIR)$(tmpfilesdir)' && mv -f weft.tmpfiles weft.conf
	cd '$(DESTDIR)$(bashcompletiondir)' && mv -f weft.bash-completion weft
	$(MKDIR_P) '$(DESTDIR)$(sysconfdir)/weft'
	@if test -f '$(DESTDIR)$(sysconfdir)/weft/weft.yaml'; then echo "keeping existing $(sysconfdir)/weft/weft.yaml"; \
	else echo " $(INSTALL_DATA) conf/weft.yaml '$(DESTDIR)$(sysconfdir)/weft/weft.yaml'"; \
	  $(INSTALL_DATA) $(srcdir)/conf/weft.yaml '$(DESTDIR)$(sysconfdir)/weft/weft.yaml'; fi
uninstall-local: uninstall-conf-renames
uninstall-conf-renames:
	rm -f '$(DESTDIR)$(sysusersdir)/weft.conf' '$(DESTDIR)$(tmpfilesdir)/weft.conf' \
	  '$(DESTDIR)$(bashcompletiondir)/weft'
	@if test -f '$(DESTDIR)$(sysconfdir)/weft/weft.yaml' && \
	  cmp -s $(srcdir)/conf/weft.yaml '$(DESTDIR)$(sysconfdir)/weft/weft.yaml'; then \
	  rm -f '$(DESTDIR)$(sysconfdir)/weft/weft.yaml'; rmdir '$(DESTDIR)$(sysconfdir)/weft' 2>/dev/null || :; fi
.PHONY: install-conf-renames uninstall-conf-renames
