# SPDX-License-Identifier: BSD-3-Clause
# plugins: fragment of the top Makefile.am (paths from the top)
include plugins/auth_oidc/auth_oidc.mk
include plugins/store_postgres/store_postgres.mk
