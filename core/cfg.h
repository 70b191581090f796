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

/* One key of a table. A module's keys live under its name ("derp.listen"); the core's at the top. A name
 * with dots ("tls.acme.domains") is a key nested in mappings (`tls: {acme: {domains: [...]}}`), also
 * accepted written flat; keys sharing a prefix must be next to each other in the table. */
struct cfg_key {
    const char *name;
    enum cfg_type type;
    const char *def;              /* default as text; NULL for none (string NULL, list empty, number 0) */
    const char *doc;              /* one line, shown by check-config --doc and in the man page */
    size_t offset;                /* where the value lives in the section's struct */
    long long min, max;           /* CFG_INT, CFG_DURATION (ms); min == max == 0: no bound */
    const char *const *choices;   /* CFG_ENUM: NULL-terminated */
    /* CFG_STR (when not empty), each item of a CFG_LIST and each item of a CFG_MAP's lists (not its names:
     * the module's check hook sees those, with cfg_error_item): NULL if value is good, else a message in buf
     * (see core/cfgcheck.h for the common ones). Reported at the value's position. */
    const char *(*check)(const char *value, char *buf, size_t len);
};

#define CFG_END { NULL, 0, NULL, NULL, 0, 0, 0, NULL, NULL }

/* Where a key got its value (filled by config_load, one per key of the table). */
enum cfg_from { CFG_FROM_DEFAULT, CFG_FROM_FILE, CFG_FROM_COMMAND_LINE };
struct cfg_pos {
    int line, col;
};
struct cfg_origin {
    enum cfg_from from;
    int line, col; /* CFG_FROM_FILE: of the value */
    /* CFG_FROM_FILE, a CFG_LIST: where each item is; a CFG_MAP: where each name is (nitems of them) */
    struct cfg_pos *items;
    size_t nitems;
};

/* A section: a key table and the struct it fills. keys NULL: a known section this process ignores (the
 * module that owns it is not loaded); its contents are accepted unchecked. */
struct cfg_section {
    const char *name;             /* NULL for the top level */
    const struct cfg_key *keys;
    size_t size;
    void *conf;                   /* filled by config_load */
    struct cfg_origin *origin;    /* config_load: one per key (freed by config_free) */
    char *file;                   /* config_load: the file (or "(embedded default)") the values came from */
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

/* How key (a name in s's table) got its value; NULL if s has no such key or nothing was loaded. */
const struct cfg_origin *cfg_origin_of(const struct cfg_section *s, const char *key);
/* 1 if key was set by the file or the command line, 0 if it has its default. */
int cfg_is_set(const struct cfg_section *s, const char *key);
/* Report an error about key of section s at the position its value came from (a check that involves
 * several keys names the one to fix): "FILE:LINE:COL: section.key: message". */
void cfg_error(struct cfg_errors *err, const struct cfg_section *s, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The same about item i of key (a CFG_LIST's item, a CFG_MAP's name), at the item's own position when it
 * came from the file (else as cfg_error). */
void cfg_error_item(struct cfg_errors *err, const struct cfg_section *s, const char *key, size_t i, const char *fmt,
                    ...) __attribute__((format(printf, 5, 6)));

/* For a reload: 1 if key k holds the same value in the structs a and b (of k's table). */
int cfg_key_equal(const struct cfg_key *k, const void *a, const void *b);
/* Exchange k's value between a and b (what a owned, b owns now: freeing b frees a's old value). */
void cfg_key_swap(const struct cfg_key *k, void *a, void *b);

/* Parse helpers, shared with verbs that take such values on their command line. 0 on success. */
int cfg_parse_duration(const char *s, long long *ms);
int cfg_parse_bool(const char *s, int *b);

/* The candidate closest to word within a small edit distance, or NULL: for "did you mean". */
const char *cfg_did_you_mean(const char *word, const char *const *candidates, size_t n);

#endif
