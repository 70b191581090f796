// SPDX-License-Identifier: BSD-3-Clause
/* Generated from openapi.json by the build: do not edit. */
extern const char api_openapi_json[];
const char api_openapi_json[] =
"{\"openapi\":\"3.0.3\"}\n"
;
