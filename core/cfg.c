// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "core/cfg.h"
#include "core/dynlib.h"

#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

/* The YAML document is read into a small tree first (every node keeps its position), then checked against
 * the key tables; that way the file and the -o overrides go through one checker and every error is seen. */
enum node_kind { N_SCALAR, N_MAP, N_SEQ };

struct node {
    enum node_kind kind;
    char *key;          /* set for entries of a mapping */
    char *value;        /* N_SCALAR */
    int line, col;      /* 1-based, of the value (of the key for keys' own errors) */
    int kline, kcol;
    struct node *child; /* N_MAP, N_SEQ */
    struct node *next;
};

static void node_free(struct node *n)
{
    while (n) {
        struct node *next = n->next;
        node_free(n->child);
        free(n->key);
        free(n->value);
        free(n);
        n = next;
    }
}

static void err_add(struct cfg_errors *e, const char *where, int line, int col, const char *key, const char *fmt, ...)
{
    char msg[512], head[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (line > 0)
        snprintf(head, sizeof head, "%s:%d:%d: ", where, line, col);
    else
        snprintf(head, sizeof head, "%s: ", where);
    size_t need = strlen(head) + (key ? strlen(key) + 2 : 0) + strlen(msg) + 2;
    char *t = realloc(e->text, e->len + need);
    if (!t)
        return;
    e->text = t;
    e->len += (size_t)snprintf(e->text + e->len, need, "%s%s%s%s\n", head, key ? key : "", key ? ": " : "", msg);
    e->count++;
}

void cfg_errors_free(struct cfg_errors *err)
{
    free(err->text);
    memset(err, 0, sizeof *err);
}

/* --- YAML to tree ------------------------------------------------------------------------------------ */

/* How deep mappings and lists may nest. weft's own keys go two levels down; the reader recurses once per
 * level, so without a bound a file of 100,000 '[' overflowed the stack (check-config died, a SIGHUP with such
 * a file killed a running daemon). */
#define CFG_MAX_DEPTH 64

/* libyaml is loaded (dlopen) for each read of the configuration and let go after it, not linked: a daemon
 * reads its configuration at start and on SIGHUP, and between them the library's pages (some 100 KiB
 * resident) would stay mapped for nothing. The functions are typed from yaml.h, so every call is checked as
 * if linked. */
#ifndef WEFT_LIBYAML_SONAME
#define WEFT_LIBYAML_SONAME "libyaml-0.so.2"
#endif
#define YAML_FUNCS(X)                                                                                             \
    X(parser_initialize) X(parser_delete) X(parser_parse) X(parser_set_input_file) X(parser_set_input_string)    \
    X(event_delete)
static struct {
#define X(name) __typeof__(yaml_##name) *name;
    YAML_FUNCS(X)
#undef X
} yl;

/* Loads libyaml into yl; its handle, or NULL with why in buf. */
static void *yaml_load(char *buf, size_t len)
{
    static const struct dynlib_sym syms[] = {
#define X(name) DYNLIB_SYM(yl, "yaml_", name)
        YAML_FUNCS(X)
#undef X
    };
    return dynlib_open(WEFT_LIBYAML_SONAME, "libyaml", "libyaml-0-2", syms, sizeof syms / sizeof *syms, buf, len);
}

struct reader {
    yaml_parser_t p;
    const char *where;
    struct cfg_errors *err;
    int failed;
    int depth;
};

static struct node *read_node(struct reader *r, yaml_event_t *ev);

static int next_event(struct reader *r, yaml_event_t *ev)
{
    if (r->failed)
        return -1;
    if (!yl.parser_parse(&r->p, ev)) {
        err_add(r->err, r->where, (int)r->p.problem_mark.line + 1, (int)r->p.problem_mark.column + 1, NULL,
                "YAML syntax: %s%s%s", r->p.problem ? r->p.problem : "error",
                r->p.context ? " " : "", r->p.context ? r->p.context : "");
        r->failed = 1;
        return -1;
    }
    return 0;
}

static struct node *new_node(enum node_kind k, const yaml_event_t *ev)
{
    struct node *n = calloc(1, sizeof *n);
    if (!n)
        abort();
    n->kind = k;
    n->line = (int)ev->start_mark.line + 1;
    n->col = (int)ev->start_mark.column + 1;
    return n;
}

static struct node *read_node_in(struct reader *r, yaml_event_t *ev);

/* ev is the node's first event (already read); the node's events are consumed. */
static struct node *read_node(struct reader *r, yaml_event_t *ev)
{
    if ((ev->type == YAML_SEQUENCE_START_EVENT || ev->type == YAML_MAPPING_START_EVENT) &&
        r->depth >= CFG_MAX_DEPTH) {
        err_add(r->err, r->where, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1, NULL,
                "mappings and lists nest more than %d deep", CFG_MAX_DEPTH);
        r->failed = 1;
        return NULL;
    }
    r->depth++;
    struct node *n = read_node_in(r, ev);
    r->depth--;
    return n;
}

static struct node *read_node_in(struct reader *r, yaml_event_t *ev)
{
    struct node *n;
    yaml_event_t e;
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        n = new_node(N_SCALAR, ev);
        n->value = strndup((const char *)ev->data.scalar.value, ev->data.scalar.length);
        return n;
    case YAML_ALIAS_EVENT:
        err_add(r->err, r->where, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1, NULL,
                "YAML aliases are not supported in weft configuration");
        r->failed = 1;
        return NULL;
    case YAML_SEQUENCE_START_EVENT: {
        n = new_node(N_SEQ, ev);
        struct node **tail = &n->child;
        for (;;) {
            if (next_event(r, &e))
                return n;
            if (e.type == YAML_SEQUENCE_END_EVENT) {
                yl.event_delete(&e);
                return n;
            }
            struct node *c = read_node(r, &e);
            yl.event_delete(&e);
            if (!c)
                return n;
            *tail = c;
            tail = &c->next;
        }
    }
    case YAML_MAPPING_START_EVENT: {
        n = new_node(N_MAP, ev);
        struct node **tail = &n->child;
        for (;;) {
            if (next_event(r, &e))
                return n;
            if (e.type == YAML_MAPPING_END_EVENT) {
                yl.event_delete(&e);
                return n;
            }
            if (e.type != YAML_SCALAR_EVENT) {
                err_add(r->err, r->where, (int)e.start_mark.line + 1, (int)e.start_mark.column + 1, NULL,
                        "a mapping key must be a plain name");
                r->failed = 1;
                yl.event_delete(&e);
                return n;
            }
            char *key = strndup((const char *)e.data.scalar.value, e.data.scalar.length);
            int kl = (int)e.start_mark.line + 1, kc = (int)e.start_mark.column + 1;
            yl.event_delete(&e);
            if (next_event(r, &e)) {
                free(key);
                return n;
            }
            struct node *c = read_node(r, &e);
            yl.event_delete(&e);
            if (!c) {
                free(key);
                return n;
            }
            c->key = key;
            c->kline = kl;
            c->kcol = kc;
            *tail = c;
            tail = &c->next;
        }
    }
    default:
        return NULL;
    }
}

/* Returns the root (NULL for an empty document); errors go to err. */
static struct node *read_yaml(const char *where, FILE *f, const char *text, struct cfg_errors *err, int *failed)
{
    struct reader r = {.where = where, .err = err};
    yaml_event_t e;
    struct node *root = NULL;
    char why[300];
    void *lib = yaml_load(why, sizeof why);
    if (!lib) {
        err_add(err, where, 0, 0, NULL, "%s", why);
        *failed = 1;
        return NULL;
    }
    yl.parser_initialize(&r.p);
    if (f)
        yl.parser_set_input_file(&r.p, f);
    else
        yl.parser_set_input_string(&r.p, (const unsigned char *)text, strlen(text));
    for (;;) {
        if (next_event(&r, &e))
            break;
        yaml_event_type_t t = e.type;
        if (t == YAML_STREAM_END_EVENT) {
            yl.event_delete(&e);
            break;
        }
        if (t == YAML_MAPPING_START_EVENT || t == YAML_SEQUENCE_START_EVENT || t == YAML_SCALAR_EVENT ||
            t == YAML_ALIAS_EVENT) {
            if (root) {
                err_add(err, where, (int)e.start_mark.line + 1, (int)e.start_mark.column + 1, NULL,
                        "only one YAML document is allowed");
                r.failed = 1;
                yl.event_delete(&e);
                break;
            }
            root = read_node(&r, &e);
        }
        yl.event_delete(&e);
        if (r.failed)
            break;
    }
    yl.parser_delete(&r.p);
    dlclose(lib);
    *failed = r.failed;
    return root;
}

/* --- values -------------------------------------------------------------------------------------------- */

int cfg_parse_bool(const char *s, int *b)
{
    static const char *t[] = {"true", "yes", "on", "1"}, *f[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, t[i]) == 0) {
            *b = 1;
            return 0;
        }
        if (strcasecmp(s, f[i]) == 0) {
            *b = 0;
            return 0;
        }
    }
    return -1;
}

static int parse_int(const char *s, long long *v)
{
    char *end;
    if (!*s || isspace((unsigned char)*s))
        return -1;
    errno = 0;
    *v = strtoll(s, &end, 10);
    return errno || *end ? -1 : 0;
}

int cfg_parse_duration(const char *s, long long *ms)
{
    long long total = 0, secs;
    if (!*s)
        return -1;
    if (parse_int(s, &secs) == 0) { /* a bare number is seconds */
        if (secs < 0 || secs > LLONG_MAX / 1000)
            return -1;
        *ms = secs * 1000;
        return 0;
    }
    const char *p = s;
    while (*p) {
        if (!isdigit((unsigned char)*p))
            return -1;
        char *end;
        errno = 0;
        long long n = strtoll(p, &end, 10);
        if (errno)
            return -1;
        long long unit;
        if (strncmp(end, "ms", 2) == 0) {
            unit = 1;
            end += 2;
        } else if (*end == 's') {
            unit = 1000;
            end++;
        } else if (*end == 'm') {
            unit = 60 * 1000;
            end++;
        } else if (*end == 'h') {
            unit = 3600 * 1000;
            end++;
        } else if (*end == 'd') {
            unit = 86400 * 1000;
            end++;
        } else {
            return -1;
        }
        if (n > (LLONG_MAX - total) / unit)
            return -1;
        total += n * unit;
        p = end;
    }
    *ms = total;
    return 0;
}

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return SIZE_MAX;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]) ? 0 : 1;
            size_t best = diag + cost;
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

const char *cfg_did_you_mean(const char *word, const char *const *candidates, size_t n)
{
    const char *best = NULL;
    size_t bestd = SIZE_MAX, limit = strlen(word) <= 4 ? 1 : strlen(word) <= 8 ? 2 : 3;
    for (size_t i = 0; i < n; i++) {
        size_t d = edit_distance(word, candidates[i]);
        if (d < bestd) {
            bestd = d;
            best = candidates[i];
        }
    }
    return bestd <= limit ? best : NULL;
}

static void list_free(struct cfg_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static void list_add(struct cfg_list *l, const char *s, size_t len)
{
    char **v = realloc(l->v, (l->n + 1) * sizeof *v);
    if (!v)
        abort();
    l->v = v;
    l->v[l->n++] = strndup(s, len);
}

static void map_free(struct cfg_map *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->keys[i]);
        list_free(&m->vals[i]);
    }
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

static void list_split(struct cfg_list *l, const char *s)
{
    while (*s) {
        while (*s == ' ' || *s == ',')
            s++;
        if (!*s)
            break;
        const char *e = s;
        while (*e && *e != ',')
            e++;
        const char *t = e;
        while (t > s && t[-1] == ' ')
            t--;
        list_add(l, s, (size_t)(t - s));
        s = e;
    }
}

static const char *type_name(enum cfg_type t)
{
    switch (t) {
    case CFG_STR: return "a string";
    case CFG_INT: return "an integer";
    case CFG_BOOL: return "true or false";
    case CFG_DURATION: return "a duration (e.g. 500ms, 90s, 5m, 24h)";
    case CFG_LIST: return "a list";
    case CFG_ENUM: return "one of the listed values";
    case CFG_MAP: return "a mapping of names to lists";
    }
    return "?";
}

static const char *kind_name(enum node_kind k)
{
    return k == N_MAP ? "a mapping" : k == N_SEQ ? "a list" : "a scalar";
}

/* A CFG_MAP from a mapping node, or from YAML flow text (the command line; "" empties it). Each item of the
 * lists goes through k->check; *at is set to a bad part's node when it came from the file. */
static const char *set_map(const struct cfg_key *k, struct cfg_map *m, const char *text, const struct node *mn,
                           char *buf, size_t buflen, const struct node **at)
{
    struct node *parsed = NULL;
    map_free(m);
    if (!mn && text && *text) {
        struct cfg_errors e = {0};
        int failed = 0;
        parsed = read_yaml("command line", NULL, text, &e, &failed);
        cfg_errors_free(&e);
        if (failed || !parsed) {
            node_free(parsed);
            snprintf(buf, buflen, "'%s' is not YAML flow text like {name: [value, ...]}", text);
            return buf;
        }
        mn = parsed;
        at = NULL; /* no positions to give */
    }
    if (!mn)
        return NULL;
    const char *msg = NULL;
    if (mn->kind != N_MAP) {
        snprintf(buf, buflen, "expected %s, found %s", type_name(k->type), kind_name(mn->kind));
        msg = buf;
    }
    for (const struct node *c = msg ? NULL : mn->child; c && !msg; c = c->next) {
        for (size_t i = 0; i < m->n && !msg; i++)
            if (strcmp(m->keys[i], c->key) == 0) {
                snprintf(buf, buflen, "'%s' appears twice", c->key);
                msg = buf;
            }
        if (!msg && c->kind == N_MAP) {
            snprintf(buf, buflen, "the value of '%s' must be a list, found a mapping", c->key);
            msg = buf;
        }
        if (msg) {
            if (at && c->kind == N_MAP)
                *at = c; /* a name twice: at the mapping */
            break;
        }
        char **nk = realloc(m->keys, (m->n + 1) * sizeof *nk);
        if (!nk)
            abort();
        m->keys = nk;
        struct cfg_list *nv = realloc(m->vals, (m->n + 1) * sizeof *nv);
        if (!nv)
            abort();
        m->vals = nv;
        m->keys[m->n] = strdup(c->key);
        memset(&m->vals[m->n], 0, sizeof *m->vals);
        struct cfg_list *l = &m->vals[m->n++];
        if (c->kind == N_SEQ) {
            for (const struct node *x = c->child; x; x = x->next) {
                if (x->kind != N_SCALAR) {
                    snprintf(buf, buflen, "list items must be scalars, found %s", kind_name(x->kind));
                    msg = buf;
                } else if (k->check) {
                    msg = k->check(x->value, buf, buflen);
                }
                if (msg) {
                    if (at)
                        *at = x;
                    break;
                }
                list_add(l, x->value, strlen(x->value));
            }
        } else {
            list_split(l, c->value);
            for (size_t i = 0; k->check && i < l->n && !msg; i++)
                if ((msg = k->check(l->v[i], buf, buflen)) && at)
                    *at = c;
        }
    }
    node_free(parsed);
    if (msg)
        map_free(m);
    return msg;
}

/* Set one key from a scalar text (or, for lists, a sequence node). Returns NULL or an error message in buf;
 * for an item of a sequence, *at is set to that item (for its position). */
static const char *set_value(const struct cfg_key *k, void *conf, const char *text, const struct node *seq,
                             char *buf, size_t buflen, const struct node **at)
{
    char *slot = (char *)conf + k->offset;
    long long v;
    int b;
    switch (k->type) {
    case CFG_STR: {
        char **p = (char **)slot;
        if (text && *text && k->check) {
            const char *msg = k->check(text, buf, buflen);
            if (msg)
                return msg;
        }
        free(*p);
        *p = text && *text ? strdup(text) : NULL; /* "key:" with no value unsets it */
        return NULL;
    }
    case CFG_INT:
    case CFG_DURATION:
        if (k->type == CFG_INT ? parse_int(text, &v) : cfg_parse_duration(text, &v)) {
            snprintf(buf, buflen, "'%s' is not %s", text, type_name(k->type));
            return buf;
        }
        if ((k->min || k->max) && (v < k->min || v > k->max)) {
            if (k->type == CFG_INT)
                snprintf(buf, buflen, "%lld is out of range (%lld to %lld)", v, k->min, k->max);
            else
                snprintf(buf, buflen, "'%s' is out of range (%lldms to %lldms)", text, k->min, k->max);
            return buf;
        }
        *(long long *)slot = v;
        return NULL;
    case CFG_BOOL:
        if (cfg_parse_bool(text, &b)) {
            snprintf(buf, buflen, "'%s' is not true or false", text);
            return buf;
        }
        *(int *)slot = b;
        return NULL;
    case CFG_ENUM:
        for (int i = 0; k->choices[i]; i++)
            if (strcmp(k->choices[i], text) == 0) {
                *(int *)slot = i;
                return NULL;
            }
        {
            size_t off = (size_t)snprintf(buf, buflen, "'%s' is not one of:", text);
            for (int i = 0; k->choices[i] && off < buflen; i++)
                off += (size_t)snprintf(buf + off, buflen - off, " %s", k->choices[i]);
        }
        return buf;
    case CFG_LIST: {
        struct cfg_list *l = (struct cfg_list *)slot;
        list_free(l);
        if (seq) {
            for (const struct node *c = seq->child; c; c = c->next) {
                if (c->kind != N_SCALAR) {
                    snprintf(buf, buflen, "list items must be scalars, found %s", kind_name(c->kind));
                    return buf;
                }
                list_add(l, c->value, strlen(c->value));
            }
        } else if (text) {
            list_split(l, text);
        }
        const struct node *item = seq ? seq->child : NULL;
        for (size_t i = 0; k->check && i < l->n; i++, item = item ? item->next : NULL) {
            const char *msg = k->check(l->v[i], buf, buflen);
            if (msg) {
                list_free(l);
                if (at && item)
                    *at = item;
                return msg;
            }
        }
        return NULL;
    }
    case CFG_MAP:
        return set_map(k, (struct cfg_map *)slot, text, seq, buf, buflen, at);
    }
    return NULL;
}

static const struct cfg_key *find_key(const struct cfg_section *s, const char *name)
{
    for (const struct cfg_key *k = s->keys; k && k->name; k++)
        if (strcmp(k->name, name) == 0)
            return k;
    return NULL;
}

static const struct cfg_section *find_section(const struct cfg_section *ss, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (ss[i].name && strcmp(ss[i].name, name) == 0)
            return &ss[i];
    return NULL;
}

/* Candidates for "did you mean": the section's key names (and, at the top, the section names). */
static const char *suggest(const struct cfg_section *ss, size_t n, const struct cfg_section *in, const char *word)
{
    const char *cand[256];
    size_t c = 0;
    for (const struct cfg_key *k = in->keys; k && k->name && c < 256; k++) {
        const char *dot = strrchr(k->name, '.');
        if (dot && strcmp(dot + 1, word) == 0)
            return k->name; /* a key that moved into a group: "nameservers" is now "dns.nameservers" */
        cand[c++] = k->name;
    }
    if (!in->name)
        for (size_t i = 0; i < n && c < 256; i++)
            if (ss[i].name)
                cand[c++] = ss[i].name;
    return cfg_did_you_mean(word, cand, c);
}

static void unknown_key(struct cfg_errors *err, const char *where, int line, int col, const struct cfg_section *ss,
                        size_t n, const struct cfg_section *in, const char *key, const char *path)
{
    const char *dym = suggest(ss, n, in, key);
    if (dym)
        err_add(err, where, line, col, path, "unknown key (did you mean '%s%s%s'?)", in->name ? in->name : "",
                in->name ? "." : "", dym);
    else
        err_add(err, where, line, col, path, "unknown key");
}

/* 1 if some key of s is nested under prefix ("tls.acme" for "tls.acme.domains"). */
static int has_nested(const struct cfg_section *s, const char *prefix)
{
    size_t pl = strlen(prefix);
    for (const struct cfg_key *k = s->keys; k && k->name; k++)
        if (strncmp(k->name, prefix, pl) == 0 && k->name[pl] == '.')
            return 1;
    return 0;
}

static void set_origin(struct cfg_section *s, const struct cfg_key *k, enum cfg_from from, int line, int col)
{
    if (s->origin) {
        free(s->origin[k - s->keys].items);
        s->origin[k - s->keys] = (struct cfg_origin){from, line, col, NULL, 0};
    }
}

static void origins_free(struct cfg_section *s)
{
    size_t i = 0;
    for (const struct cfg_key *k = s->keys; s->origin && k && k->name; k++, i++)
        free(s->origin[i].items);
    free(s->origin);
    s->origin = NULL;
}

/* e is an entry of a mapping at prefix ("" at the section's top, "tls." under `tls:`...). */
static void apply_entry(struct cfg_errors *err, const char *where, struct cfg_section *ss, size_t n,
                        struct cfg_section *in, const struct node *e, const char *prefix)
{
    char path[400], name[256], buf[512];
    snprintf(name, sizeof name, "%s%s", prefix, e->key);
    snprintf(path, sizeof path, "%s%s%s", in->name ? in->name : "", in->name ? "." : "", name);
    const struct cfg_key *k = find_key(in, name);
    if (!k && has_nested(in, name)) {
        if (e->kind == N_SCALAR && e->value[0] == 0)
            return; /* "acme:" with nothing under it */
        if (e->kind != N_MAP) {
            err_add(err, where, e->line, e->col, path, "expected a mapping of %s keys, found %s", path,
                    kind_name(e->kind));
            return;
        }
        char sub[260];
        snprintf(sub, sizeof sub, "%s.", name);
        for (const struct node *c = e->child; c; c = c->next) {
            for (const struct node *p = e->child; p != c; p = p->next)
                if (strcmp(p->key, c->key) == 0) {
                    err_add(err, where, c->kline, c->kcol, NULL, "%s.%s: duplicate key (first at line %d)", path,
                            c->key, p->kline);
                    break;
                }
            apply_entry(err, where, ss, n, in, c, sub);
        }
        return;
    }
    if (!k) {
        unknown_key(err, where, e->kline, e->kcol, ss, n, in, name, path);
        return;
    }
    const char *msg = NULL;
    const struct node *at = e;
    if ((e->kind == N_MAP && k->type != CFG_MAP) || (e->kind == N_SEQ && k->type != CFG_LIST) ||
        (e->kind == N_SCALAR && k->type == CFG_MAP && e->value[0]))
        msg = (snprintf(buf, sizeof buf, "expected %s, found %s", type_name(k->type), kind_name(e->kind)), buf);
    else if (e->kind != N_SCALAR)
        msg = set_value(k, in->conf, NULL, e, buf, sizeof buf, &at);
    else
        msg = set_value(k, in->conf, e->value, NULL, buf, sizeof buf, &at);
    if (msg) {
        err_add(err, where, at->line, at->col, path, "%s", msg);
        return;
    }
    set_origin(in, k, CFG_FROM_FILE, e->line, e->col);
    /* where each list item, or each name of a map, is: for the module's checks (cfg_error_item) */
    struct cfg_origin *o = in->origin ? &in->origin[k - in->keys] : NULL;
    const char *slot = (const char *)in->conf + k->offset;
    size_t ni = k->type == CFG_LIST ? ((const struct cfg_list *)slot)->n
                : k->type == CFG_MAP ? ((const struct cfg_map *)slot)->n
                                     : 0;
    if (!o || !ni)
        return;
    o->items = calloc(ni, sizeof *o->items);
    if (!o->items)
        return;
    o->nitems = ni;
    const struct node *c = e->kind != N_SCALAR ? e->child : NULL;
    for (size_t i = 0; i < ni; i++) {
        o->items[i] = c ? (struct cfg_pos){k->type == CFG_MAP ? c->kline : c->line, k->type == CFG_MAP ? c->kcol : c->col}
                        : (struct cfg_pos){e->line, e->col};
        c = c ? c->next : NULL;
    }
}

static void apply_tree(struct cfg_errors *err, const char *where, struct cfg_section *ss, size_t n,
                       const struct node *root)
{
    struct cfg_section *top = NULL;
    for (size_t i = 0; i < n; i++)
        if (!ss[i].name)
            top = &ss[i];
    if (root->kind != N_MAP) {
        err_add(err, where, root->line, root->col, NULL, "the configuration must be a mapping of keys");
        return;
    }
    for (const struct node *e = root->child; e; e = e->next) {
        /* duplicate keys are an error: the later one would silently win */
        for (const struct node *p = root->child; p != e; p = p->next)
            if (strcmp(p->key, e->key) == 0) {
                err_add(err, where, e->kline, e->kcol, e->key, "duplicate key (first at line %d)", p->kline);
                break;
            }
        struct cfg_section *sec = (struct cfg_section *)find_section(ss, n, e->key);
        if (sec && !sec->keys)
            continue; /* the section of a module this process has not loaded */
        if (sec) {
            if (e->kind == N_SCALAR && e->value[0] == 0)
                continue; /* "derp:" with nothing under it */
            if (e->kind != N_MAP) {
                err_add(err, where, e->line, e->col, e->key, "expected a mapping of %s keys, found %s", e->key,
                        kind_name(e->kind));
                continue;
            }
            for (const struct node *c = e->child; c; c = c->next) {
                for (const struct node *p = e->child; p != c; p = p->next)
                    if (strcmp(p->key, c->key) == 0) {
                        err_add(err, where, c->kline, c->kcol, NULL, "%s.%s: duplicate key (first at line %d)",
                                e->key, c->key, p->kline);
                        break;
                    }
                apply_entry(err, where, ss, n, sec, c, "");
            }
        } else if (top) {
            apply_entry(err, where, ss, n, top, e, "");
        }
    }
}

static void apply_override(struct cfg_errors *err, struct cfg_section *ss, size_t n, const char *text)
{
    const char *eq = strchr(text, '=');
    char buf[512];
    if (eq == NULL || eq == text) {
        err_add(err, "command line", 0, 0, NULL, "-o takes key.path=value, got '%s'", text);
        return;
    }
    char key[256];
    snprintf(key, sizeof key, "%.*s", (int)(eq - text), text);
    const char *value = eq + 1;
    struct cfg_section *sec = NULL, *top = NULL;
    const char *name = key;
    for (size_t i = 0; i < n; i++)
        if (!ss[i].name)
            top = &ss[i];
    char *dot = strchr(key, '.');
    if (dot) {
        *dot = 0;
        sec = (struct cfg_section *)find_section(ss, n, key);
        if (!sec) {
            const char *cand[64];
            size_t c = 0;
            for (size_t i = 0; i < n && c < 64; i++)
                if (ss[i].name)
                    cand[c++] = ss[i].name;
            const char *dym = cfg_did_you_mean(key, cand, c);
            *dot = '.';
            if (dym)
                err_add(err, "command line", 0, 0, key, "unknown section (did you mean '%s'?)", dym);
            else
                err_add(err, "command line", 0, 0, key, "unknown section");
            return;
        }
        *dot = '.';
        if (!sec->keys)
            return; /* a module this process has not loaded */
        name = dot + 1;
    } else {
        sec = top;
    }
    const struct cfg_key *k = sec ? find_key(sec, name) : NULL;
    if (!k) {
        if (sec)
            unknown_key(err, "command line", 0, 0, ss, n, sec, name, key);
        else
            err_add(err, "command line", 0, 0, key, "unknown key");
        return;
    }
    const char *msg = set_value(k, sec->conf, value, NULL, buf, sizeof buf, NULL);
    if (msg)
        err_add(err, "command line", 0, 0, key, "%s", msg);
    else
        set_origin(sec, k, CFG_FROM_COMMAND_LINE, 0, 0);
}

static void apply_defaults(struct cfg_section *s)
{
    char buf[256];
    for (const struct cfg_key *k = s->keys; k && k->name; k++) {
        if (!k->def)
            continue;
        const char *msg = set_value(k, s->conf, k->def, NULL, buf, sizeof buf, NULL);
        if (msg) { /* a broken default is a bug in the table, not a user error */
            fprintf(stderr, "weft: bad built-in default for %s: %s\n", k->name, msg);
            abort();
        }
    }
}

/* The config file, opened for reading; NULL with the reason in err. Only a regular file: a directory would
 * read as a YAML input error, and a FIFO would block the reader (check-config, a SIGHUP) forever. */
static FILE *open_config(const char *path, struct cfg_errors *err)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY); /* a FIFO's open must not wait */
    if (fd < 0) {
        err_add(err, path, 0, 0, NULL, "cannot open: %s", strerror(errno));
        return NULL;
    }
    struct stat st;
    const char *bad = NULL;
    if (fstat(fd, &st) != 0)
        bad = strerror(errno);
    else if (S_ISDIR(st.st_mode))
        bad = "is a directory, not a configuration file";
    else if (!S_ISREG(st.st_mode))
        bad = S_ISFIFO(st.st_mode) ? "is a FIFO, not a regular file" : "is not a regular file";
    if (bad || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) {
        err_add(err, path, 0, 0, NULL, "%s", bad ? bad : strerror(errno));
        close(fd);
        return NULL;
    }
    FILE *f = fdopen(fd, "r");
    if (!f) {
        err_add(err, path, 0, 0, NULL, "cannot open: %s", strerror(errno));
        close(fd);
    }
    return f;
}

size_t config_load(struct cfg_section *ss, size_t n, const char *path, const char *embedded,
                   const struct cfg_override *ov, size_t nov, struct cfg_errors *err)
{
    const char *where = path ? path : embedded ? "(embedded default)" : "(defaults)";
    for (size_t i = 0; i < n; i++) {
        if (ss[i].conf)
            memset(ss[i].conf, 0, ss[i].size);
        origins_free(&ss[i]);
        free(ss[i].file);
        size_t nk = 0;
        for (const struct cfg_key *k = ss[i].keys; k && k->name; k++)
            nk++;
        ss[i].origin = nk ? calloc(nk, sizeof *ss[i].origin) : NULL;
        ss[i].file = strdup(where);
        apply_defaults(&ss[i]);
    }
    if (path || embedded) {
        FILE *f = NULL;
        if (!embedded && !(f = open_config(path, err)))
            return err->count;
        int failed = 0;
        struct node *root = read_yaml(where, f, embedded, err, &failed);
        if (f)
            fclose(f);
        if (root && !failed)
            apply_tree(err, where, ss, n, root);
        node_free(root);
    }
    for (size_t i = 0; i < nov; i++)
        apply_override(err, ss, n, ov[i].text);
    return err->count;
}

void config_free(struct cfg_section *ss, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        origins_free(&ss[i]);
        free(ss[i].file);
        ss[i].file = NULL;
    }
    for (size_t i = 0; i < n; i++)
        for (const struct cfg_key *k = ss[i].keys; k && k->name; k++) {
            char *slot = (char *)ss[i].conf + k->offset;
            if (k->type == CFG_STR) {
                free(*(char **)slot);
                *(char **)slot = NULL;
            } else if (k->type == CFG_LIST) {
                list_free((struct cfg_list *)slot);
            } else if (k->type == CFG_MAP) {
                map_free((struct cfg_map *)slot);
            }
        }
}

/* YAML plain scalars can't hold every string: quote when in doubt. */
static void print_scalar(FILE *out, const char *s)
{
    int plain = *s && !strchr("-?:&*!|>'\"%@` ", s[0]) && !strpbrk(s, ",[]{}#") && s[strlen(s) - 1] != ' ';
    for (const char *p = s; plain && *p; p++)
        if ((*p == ':' && (p[1] == ' ' || !p[1])) || (*p == ' ' && p[1] == '#') || (unsigned char)*p < 0x20)
            plain = 0;
    int dummy;
    long long ll;
    if (plain && (cfg_parse_bool(s, &dummy) == 0 || parse_int(s, &ll) == 0 || strcmp(s, "null") == 0 ||
                  strcmp(s, "~") == 0))
        plain = 0;
    if (plain) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (const char *p = s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if ((unsigned char)*p < 0x20)
            fprintf(out, "\\x%02x", (unsigned char)*p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

static void print_list(FILE *out, const struct cfg_list *l)
{
    fputc('[', out);
    for (size_t i = 0; i < l->n; i++) {
        if (i)
            fputs(", ", out);
        print_scalar(out, l->v[i]);
    }
    fputc(']', out);
}

static void print_duration(FILE *out, long long ms)
{
    if (ms == 0)
        fputs("0s", out);
    else if (ms % 3600000 == 0)
        fprintf(out, "%lldh", ms / 3600000);
    else if (ms % 60000 == 0)
        fprintf(out, "%lldm", ms / 60000);
    else if (ms % 1000 == 0)
        fprintf(out, "%llds", ms / 1000);
    else
        fprintf(out, "%lldms", ms);
}

/* The number of dot-separated components of name's parent ("tls.acme" of "tls.acme.domains": 2), with the
 * start and length of each in st/ln (at most 8). */
static int parents(const char *name, size_t st[8], size_t ln[8])
{
    int n = 0;
    for (size_t i = 0, s0 = 0; name[i] && n < 8; i++)
        if (name[i] == '.') {
            st[n] = s0;
            ln[n++] = i - s0;
            s0 = i + 1;
        }
    return n;
}

static void print_section(FILE *out, const struct cfg_section *s, int docs)
{
    char ind[64];
    int base = s->name ? 2 : 0;
    if (s->name)
        fprintf(out, "%s:\n", s->name);
    const char *prev = "";
    for (const struct cfg_key *k = s->keys; k && k->name; k++) {
        const char *slot = (const char *)s->conf + k->offset;
        /* open the mappings of a nested key that the previous key has not opened (keys sharing a prefix
         * are next to each other in the table) */
        size_t st[8], ln[8], pst[8], pln[8];
        int np = parents(k->name, st, ln), npp = parents(prev, pst, pln), common = 0;
        while (common < np && common < npp && ln[common] == pln[common] &&
               strncmp(k->name + st[common], prev + pst[common], ln[common]) == 0)
            common++;
        for (int i = common; i < np; i++)
            fprintf(out, "%*s%.*s:\n", base + 2 * i, "", (int)ln[i], k->name + st[i]);
        prev = k->name;
        snprintf(ind, sizeof ind, "%*s", base + 2 * np, "");
        const char *leaf = strrchr(k->name, '.') ? strrchr(k->name, '.') + 1 : k->name;
        if (docs && k->doc)
            fprintf(out, "%s# %s\n", ind, k->doc);
        fprintf(out, "%s%s:", ind, leaf);
        switch (k->type) {
        case CFG_STR:
            if (*(char *const *)slot) {
                fputc(' ', out);
                print_scalar(out, *(char *const *)slot);
            }
            break;
        case CFG_INT:
            fprintf(out, " %lld", *(const long long *)slot);
            break;
        case CFG_DURATION:
            fputc(' ', out);
            print_duration(out, *(const long long *)slot);
            break;
        case CFG_BOOL:
            fprintf(out, " %s", *(const int *)slot ? "true" : "false");
            break;
        case CFG_ENUM:
            fprintf(out, " %s", k->choices[*(const int *)slot]);
            break;
        case CFG_LIST:
            fputc(' ', out);
            print_list(out, (const struct cfg_list *)slot);
            break;
        case CFG_MAP: {
            const struct cfg_map *m = (const struct cfg_map *)slot;
            fputs(" {", out);
            for (size_t i = 0; i < m->n; i++) {
                fputs(i ? ", " : "", out);
                print_scalar(out, m->keys[i]);
                fputs(": ", out);
                print_list(out, &m->vals[i]);
            }
            fputc('}', out);
            break;
        }
        }
        fputc('\n', out);
    }
}

void config_print(FILE *out, const struct cfg_section *ss, size_t n, int docs)
{
    for (size_t i = 0; i < n; i++)
        if (!ss[i].name)
            print_section(out, &ss[i], docs);
    for (size_t i = 0; i < n; i++)
        if (ss[i].name && ss[i].keys)
            print_section(out, &ss[i], docs);
}

const struct cfg_origin *cfg_origin_of(const struct cfg_section *s, const char *key)
{
    const struct cfg_key *k = find_key(s, key);
    return k && s->origin ? &s->origin[k - s->keys] : NULL;
}

int cfg_is_set(const struct cfg_section *s, const char *key)
{
    const struct cfg_origin *o = cfg_origin_of(s, key);
    return o && o->from != CFG_FROM_DEFAULT;
}

void cfg_error(struct cfg_errors *err, const struct cfg_section *s, const char *key, const char *fmt, ...)
{
    char msg[512], path[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(path, sizeof path, "%s%s%s", s->name ? s->name : "", s->name ? "." : "", key);
    const struct cfg_origin *o = cfg_origin_of(s, key);
    if (o && o->from == CFG_FROM_COMMAND_LINE)
        err_add(err, "command line", 0, 0, path, "%s", msg);
    else if (o && o->from == CFG_FROM_FILE)
        err_add(err, s->file ? s->file : "?", o->line, o->col, path, "%s", msg);
    else /* a default: no position to give */
        err_add(err, s->file ? s->file : "(defaults)", 0, 0, path, "%s (its default)", msg);
}

void cfg_error_item(struct cfg_errors *err, const struct cfg_section *s, const char *key, size_t i, const char *fmt,
                    ...)
{
    char msg[512], path[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const struct cfg_origin *o = cfg_origin_of(s, key);
    if (!o || o->from != CFG_FROM_FILE || i >= o->nitems) {
        cfg_error(err, s, key, "%s", msg);
        return;
    }
    snprintf(path, sizeof path, "%s%s%s", s->name ? s->name : "", s->name ? "." : "", key);
    err_add(err, s->file ? s->file : "?", o->items[i].line, o->items[i].col, path, "%s", msg);
}

static int list_eq(const struct cfg_list *l, const struct cfg_list *m)
{
    if (l->n != m->n)
        return 0;
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], m->v[i]) != 0)
            return 0;
    return 1;
}

static int str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

int cfg_key_equal(const struct cfg_key *k, const void *a, const void *b)
{
    const char *x = (const char *)a + k->offset, *y = (const char *)b + k->offset;
    switch (k->type) {
    case CFG_STR:
        return str_eq(*(char *const *)x, *(char *const *)y);
    case CFG_INT:
    case CFG_DURATION:
        return *(const long long *)x == *(const long long *)y;
    case CFG_BOOL:
    case CFG_ENUM:
        return *(const int *)x == *(const int *)y;
    case CFG_LIST:
        return list_eq((const struct cfg_list *)x, (const struct cfg_list *)y);
    case CFG_MAP: {
        const struct cfg_map *l = (const struct cfg_map *)x, *m = (const struct cfg_map *)y;
        if (l->n != m->n)
            return 0;
        for (size_t i = 0; i < l->n; i++)
            if (strcmp(l->keys[i], m->keys[i]) != 0 || !list_eq(&l->vals[i], &m->vals[i]))
                return 0;
        return 1;
    }
    }
    return 0;
}

void cfg_key_swap(const struct cfg_key *k, void *a, void *b)
{
    size_t size = k->type == CFG_STR        ? sizeof(char *)
                  : k->type == CFG_LIST     ? sizeof(struct cfg_list)
                  : k->type == CFG_MAP      ? sizeof(struct cfg_map)
                  : k->type == CFG_INT || k->type == CFG_DURATION ? sizeof(long long)
                                            : sizeof(int);
    char tmp[sizeof(struct cfg_map)]; /* the largest of them */
    _Static_assert(sizeof(struct cfg_map) >= sizeof(struct cfg_list) && sizeof(struct cfg_map) >= sizeof(long long),
                   "tmp holds any value");
    memcpy(tmp, (char *)a + k->offset, size);
    memcpy((char *)a + k->offset, (char *)b + k->offset, size);
    memcpy((char *)b + k->offset, tmp, size);
}
