// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include <string.h>

#include "core/http.h"
#include "modules/control/api/api.h"

/* GET /api/v2/openapi.json: the OpenAPI 3 description of this API, written by hand next to the code
 * (openapi.json in this directory; the build turns it into openapi_json.c) so that it says exactly what
 * router.c routes. Public, like the API's documentation: it holds no data of the tailnet. */

extern const char api_openapi_json[];

void api_openapi(struct api_call *k)
{
    struct http_header h = {"Content-Type", "application/json"};
    http_respond(k->req, 200, &h, 1, api_openapi_json, strlen(api_openapi_json));
}
