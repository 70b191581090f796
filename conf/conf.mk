# SPDX-License-Identifier: BSD-3-Clause
# conf/: what a packager installs besides the binary (fragment of the top Makefile.am)
examplesdir = $(sysconfdir)/weft
example_configs = conf/examples/single-box.yaml conf/examples/lan.yaml conf/examples/control.yaml \
	conf/examples/derp.yaml \
	conf/examples/node.yaml
dist_man8_MANS = conf/weft.8
systemdsystemunit_DATA = conf/systemd/weft@.service conf/systemd/weft.service
nodeunitdropindir = $(systemdsystemunitdir)/weft@node.service.d
dist_nodeunitdropin_DATA = conf/systemd/weft@node.service.d/node.conf
EXTRA_DIST += $(example_configs) conf/systemd/weft@.service.in conf/systemd/weft.service.in
CLEANFILES += conf/systemd/weft@.service conf/systemd/weft.service

conf/systemd/%.service: $(srcdir)/conf/systemd/%.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) $(@D) && sed -e 's|@bindir[@]|$(bindir)|g' $< > $@-t && mv $@-t $@

# The example configs go to $(sysconfdir)/weft/; a file that is already there (edited by its admin) is kept.
install-data-local: install-example-configs
install-example-configs:
	$(MKDIR_P) '$(DESTDIR)$(examplesdir)'
	@for f in $(example_configs); do \
	  b=`basename $$f`; \
	  if test -f '$(DESTDIR)$(examplesdir)'/$$b; then echo "keeping existing $(examplesdir)/$$b"; \
	  else echo " $(INSTALL_DATA) $$f '$(DESTDIR)$(examplesdir)/$$b'"; \
	    $(INSTALL_DATA) $(srcdir)/$$f '$(DESTDIR)$(examplesdir)'/$$b || exit 1; fi; \
	done
uninstall-local: uninstall-example-configs
uninstall-example-configs:
	@for f in $(example_configs); do \
	  b=`basename $$f`; \
	  if test -f '$(DESTDIR)$(examplesdir)'/$$b && cmp -s $(srcdir)/$$f '$(DESTDIR)$(examplesdir)'/$$b; then \
	    rm -f '$(DESTDIR)$(examplesdir)'/$$b; fi; \
	done
.PHONY: install-example-configs uninstall-example-configs
