/*
 * web.h — the web dashboard on the JobManager's REST port: Apache Flink's
 * own dashboard (the Angular build inside the flink-runtime-web artifact,
 * which scripts/fetch-web.sh fetches), fed by the REST API alone.
 */
#ifndef FLINC_JOBMANAGER_WEB_H
#define FLINC_JOBMANAGER_WEB_H

#include <stddef.h>

#include "common/err.h"
#include "config/config.h"
#include "rest/rest.h"

/* The Flink release whose dashboard flinc serves; scripts/fetch-web.sh
 * pins the same. */
#define JM_WEB_FLINK_VERSION "2.3.0"

/*
 * Finds the dashboard's files: web.static-dir when set; otherwise the
 * first of share/flinc/web beside the binaries (<dir of the executable>/
 * ../share/flinc/web, where `cmake --install` puts them) and the cache of
 * scripts/fetch-web.sh ($FLINC_CACHE, else $HOME/.cache/flinc, then
 * /web/flink-runtime-web-JM_WEB_FLINK_VERSION) that holds an index.html.
 * Writes the directory to out (cap bytes). Returns 0; FL_ENOENT when no
 * default location has the files (out is ""); FL_EINVAL when web.static-dir
 * is set but holds no readable index.html (err names the key and the path).
 */
int jm_web_dir(const cfg *c, char *out, size_t cap, cm_err *err);

/*
 * Serves the dashboard on s (before rest_server_start): the directory
 * jm_web_dir finds for GETs no route matched, or, when there is none, a
 * route GET / answering 404 with Flink's error shape and how to get the
 * files. dir receives the directory served ("" when none). Returns 0,
 * FL_EINVAL (web.static-dir unusable; err says why) or FL_ENOMEM.
 */
int jm_web_serve(rest_server *s, const cfg *c, char *dir, size_t cap, cm_err *err);

#endif
