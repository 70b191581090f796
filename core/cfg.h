// SPDX-License-Identifier: BSD-3-Clause
/* Configuration: typed key tables, a YAML file, -o overrides, defaults; errors as FILE:LINE:COL: key: msg. */
#ifndef WEFT_CFG_H
#define WEFT_CFG_H

#include <stddef.h>
#include <stdio.h>

enum cfg_type {
    CFG_STR,      /* char *, owned */
    CFG_INT,      /* long long, within [min, max] */
    CFG_BOOL,     /* int: 0 or 1 (true/false, yes/no, on/off) */
    CFG_DURATION, /* long long milliseconds: "500ms", "90s", "5m", "24h", "1h30m", or a bare number of seconds */
    CFG_LIST,     /* struct cfg_list: a YAML sequence of scalars, or a comma-separated scalar */
    CFG_ENUM,     /* int: the index of the value in choices */
    CFG_MAP,      /* struct cfg_map: a YAML mapping of names to lists of scalars (a list, or a comma-separated
                   * scalar); on the command line as YAML flow text, e.g. key={a.example: [10.0.0.53]} */
};

struct cfg_list {
    char **v;
    size_t n;
};

/* CFG_MAP: keys[i] maps to vals[i]. */
struct cfg_map {
    char **keys;
    struct cfg_list *vals;
    size_t n;
};

/* What a check is shown: a key's scalar value, one item of a list or of a map's list, or a map's key. */
enum cfg_part { CFG_PART_VALUE, CFG_PART_MAPKEY };

/* One key of a table. A module's keys live under its name ("derp.listen"); the core's at the top. A key
 * named with a dot ("dns.routes") is a key of a group: in YAML under "dns:" in the section (or written
 * "dns.routes:"), on the command line control.dns.routes=...; a group's keys are contiguous in the table. */
struct cfg_key {
    const char *name;
    enum cfg_type type;
    const char *def;              /* default as text; NULL for none (string NULL, list empty, number 0) */
    const char *doc;              /* one line, shown by check-config --doc and in the man page */
    size_t offset;                /* where the value lives in the section's struct */
    long long min, max;           /* CFG_INT, CFG_DURATION (ms); min == max == 0: no bound */
    const char *const *choices;   /* CFG_ENUM: NULL-terminated */
    /* Optional: checks one value (each item of a list or map) once the whole configuration is read, so it
     * may look at other keys of conf (the section's struct). Returns NULL, or a message (in buf) reported
     * at the item's FILE:LINE:COL. Not run on the built-in defaults. */
    const char *(*check)(const void *conf, const char *item, enum cfg_part part, char *buf, size_t buflen);
};

#define CFG_END { NULL, 0, NULL, NULL, 0, 0, 0, NULL, NULL }

/* A section: a key table and the struct it fills. keys NULL: a known section this process ignores (the
 * module that owns it is not loaded); its contents are accepted unchecked. */
struct cfg_section {
    const char *name;             /* NULL for the top level */
    const struct cfg_key *keys;
    size_t size;
    void *conf;                   /* filled by config_load */
};

/* Where errors go: collected as lines "FILE:LINE:COL: key.path: message". */
struct cfg_errors {
    size_t count;
    char *text;                   /* all lines, '\n'-terminated; NULL when none */
    size_t len;
};

struct cfg_override {
    const char *text;             /* "key.path=value" as given to -o */
};

/* Fill every section with its defaults, then the YAML file (NULL: none; embedded, if not NULL, is YAML text to use
 * instead, named by path), then the overrides, in one pass that reports every error. Returns the error count. */
size_t config_load(struct cfg_section *sections, size_t nsections, const char *path, const char *embedded,
                   const struct cfg_override *ov, size_t nov, struct cfg_errors *err);

/* Print the effective configuration as YAML that config_load accepts. docs: add each key's doc as a comment. */
void config_print(FILE *out, const struct cfg_section *sections, size_t nsections, int docs);

/* Free what config_load allocated inside the sections' structs (strings, lists); the structs stay. */
void config_free(struct cfg_section *sections, size_t nsections);

void cfg_errors_free(struct cfg_errors *err);

/* Parse helpers, shared with verbs that take such values on their command line. 0 on success. */
int cfg_parse_duration(const char *s, long long *ms);
int cfg_parse_bool(const char *s, int *b);

/* The candidate closest to word within a small edit distance, or NULL: for "did you mean". */
const char *cfg_did_you_mean(const char *word, const char *const *candidates, size_t n);

#endif
