/*
 * srtmctl's dependency graph commands: depend, undepend, graph; and components named by
 * their path (ctl_component), which reads the graph.
 */
#include <stdio.h>
#include <string.h>

#include "ctl.h"

/* ---- depend, undepend -------------------------------------------------------------- */

typedef struct depend_args {
    const char *name;
    const char *on;
    const char *actor;
} depend_args;

static int depend_run(ctx *c, const depend_args *a, bool remove)
{
    const char *name = NULL;
    int rc = ctl_component(c, a->name, &name);
    if (rc != CTL_CONTINUE)
        return rc;
    uint64_t seq = 0;
    srtm_err err = srtm_depend(c->conn, &c->cap, name, a->on, a->actor, remove, &seq);
    if (err != SRTM_OK)
        return fail(c, err);
    return print_change(c, name, "on", a->on, seq);
}

static int depend_add(ctx *c, const void *args)
{
    return depend_run(c, args, false);
}

static int depend_remove(ctx *c, const void *args)
{
    return depend_run(c, args, true);
}

enum { O_ON = O_FIRST, O_ACTOR, O_DOT };

static const struct option depend_opts[] = {
    {"on", required_argument, NULL, O_ON},
    {"actor", required_argument, NULL, O_ACTOR},
    OPT_HELP,
    OPT_END,
};

static int depend_option(const command *cmd, int code, const char *arg, void *args)
{
    depend_args *a = args;
    switch (code) {
    case O_ON:
        return take_string(cmd, "--on", arg, SRTM_MAX_NAME, &a->on);
    case O_ACTOR:
        return take_string(cmd, "--actor", arg, SRTM_MAX_NAME, &a->actor);
    default:
        return usage_error(cmd, "unexpected option");
    }
}

static int depend_parse(const command *cmd, const globals *g, int argc, char **argv,
                        void *args)
{
    (void)g;
    depend_args *a = args;
    int first = 0;
    int rc = ctl_getopt(cmd, argc, argv, NULL, depend_opts, depend_option, a, &first);
    if (rc == CTL_CONTINUE)
        rc = ctl_count_positionals(cmd, argc - first, 1, 1);
    if (rc == CTL_CONTINUE)
        rc = ctl_take_name(cmd, argv[first], true, &a->name);
    if (rc == CTL_CONTINUE && a->on == NULL)
        rc = usage_error(cmd, "needs --on COMPONENT");
    return rc;
}

const command ctl_cmd_depend = {
    .name = "depend",
    .parse = depend_parse,
    .run = depend_add,
    .args_size = sizeof(depend_args),
    .needs_cap = true,
    .synopsis = "depend NAME --on X [--actor A]",
    .help = "Add the dependency NAME -> X: NAME's integrity depends on X's. Needs --cap\n"
            "with the actor's capability; the actor (default NAME) must be NAME or a\n"
            "component NAME already depends on, directly or transitively. A cycle is\n"
            "refused. Prints 'seq N'.\n"
            "  --on X            the component NAME comes to depend on\n"
            "  --actor A         the component asking (default NAME)\n"
            "JSON: {\"component\",\"on\",\"seq\"}\n",
};

const command ctl_cmd_undepend = {
    .name = "undepend",
    .parse = depend_parse,
    .run = depend_remove,
    .args_size = sizeof(depend_args),
    .needs_cap = true,
    .synopsis = "undepend NAME --on X [--actor A]",
    .help = "Remove the dependency NAME -> X (never the one on NAME's parent). Needs --cap\n"
            "with the actor's capability; the actor (default NAME) must be NAME or its\n"
            "parent chain, not X nor anything X depends on, and for an edge an ancestor\n"
            "declared, that ancestor or one above it. The removal is recorded and\n"
            "reported: a verifier still judges X as it was when it was cut.\n"
            "Prints 'seq N'.\n"
            "  --on X            the component NAME stops depending on\n"
            "  --actor A         the component asking (default NAME)\n"
            "JSON: {\"component\",\"on\",\"seq\"}\n",
};

/* ---- graph ------------------------------------------------------------------------- */

typedef struct graph_args {
    const char *name; /* NULL: every component */
    bool dot;
} graph_args;

/* Index of the node with handle h (nodes ascend by handle), or -1. */
static ptrdiff_t graph_find(const srtm_graph *g, uint64_t h)
{
    size_t lo = 0, hi = srtm_graph_count(g);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint64_t m = srtm_graph_handle(g, mid);
        if (m == h)
            return (ptrdiff_t)mid;
        if (m < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* The name of handle h in g, or NULL when g does not hold it. */
static const char *graph_name_of(const srtm_graph *g, uint64_t h)
{
    ptrdiff_t i = graph_find(g, h);
    return i >= 0 ? srtm_graph_name(g, (size_t)i) : NULL;
}

/* A component in a parent= or deps= field: its name with ' ', ',' and '=' escaped ("-"
 * alone means none, so a component called "-" is written '\x2d'), or '#HANDLE'
 * should the graph not hold it. */
static void print_ref(const srtm_graph *g, uint64_t h)
{
    const char *name = graph_name_of(g, h);
    if (name == NULL)
        printf("#%llu", (unsigned long long)h);
    else if (strcmp(name, "-") == 0)
        fputs("\\x2d", stdout);
    else
        print_escaped_set(name, " ,=#");
}

static void graph_text(const srtm_graph *g)
{
    for (size_t i = 0; i < srtm_graph_count(g); i++) {
        uint64_t h = srtm_graph_handle(g, i);
        printf("%llu ", (unsigned long long)h);
        print_escaped(srtm_graph_name(g, i), true);
        fputs(" parent=", stdout);
        if (h == 0)
            putchar('-'); /* component 0 has no parent */
        else
            print_ref(g, srtm_graph_parent(g, i));
        fputs(" deps=", stdout);
        size_t n = 0;
        const uint64_t *deps = srtm_graph_deps(g, i, &n);
        if (n == 0)
            putchar('-');
        for (size_t k = 0; k < n; k++) {
            if (k > 0)
                putchar(',');
            print_ref(g, deps[k]);
        }
        fputs(srtm_graph_terminated(g, i) ? " terminated\n" : "\n", stdout);
    }
}

/* A handle as JSON: the component's name, or null should the graph not hold it. */
static json_object *name_json(const srtm_graph *g, uint64_t h)
{
    const char *name = graph_name_of(g, h);
    return name != NULL ? json_object_new_string(name) : NULL;
}

static json_object *graph_node_json(const void *gv, size_t i)
{
    const srtm_graph *g = gv;
    uint64_t h = srtm_graph_handle(g, i);
    size_t n = 0;
    const uint64_t *deps = srtm_graph_deps(g, i, &n);
    json_object *o = json_object_new_object();
    json_object *names = json_object_new_array();
    json_object *handles = json_object_new_array();
    bool ok = names != NULL && handles != NULL;
    ok = jput(o, "handle", json_object_new_uint64(h)) && ok;
    ok = ok && jput(o, "component", json_object_new_string(srtm_graph_name(g, i)));
    /* Component 0 has no parent: both fields are left out. */
    if (h != 0) {
        const char *parent = graph_name_of(g, srtm_graph_parent(g, i));
        if (parent != NULL)
            ok = ok && jput(o, "parent", json_object_new_string(parent));
        ok = ok && jput(o, "parent_handle", json_object_new_uint64(srtm_graph_parent(g, i)));
    }
    for (size_t k = 0; ok && k < n; k++) {
        json_object *dn = name_json(g, deps[k]);
        json_object *dh = json_object_new_uint64(deps[k]);
        if (json_object_array_add(names, dn) != 0) {
            json_object_put(dn);
            ok = false;
        }
        if (dh == NULL || json_object_array_add(handles, dh) != 0) {
            json_object_put(dh);
            ok = false;
        }
    }
    if (n > 0) {
        ok = jput(o, "depends_on", names) && ok;
        ok = jput(o, "depends_on_handles", handles) && ok;
    } else {
        json_object_put(names);
        json_object_put(handles);
    }
    ok = ok && jput(o, "terminated", json_object_new_boolean(srtm_graph_terminated(g, i)));
    if (!ok) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

static int graph_json(const srtm_graph *g)
{
    json_object *o = json_object_new_object();
    json_object *arr = json_object_new_array();
    bool ok = arr != NULL && fill_array(arr, srtm_graph_count(g), graph_node_json, g);
    ok = jput(o, "components", arr) && ok;
    return emit_json(o, ok);
}

/* s as the inside of a DOT double-quoted string: '"' escaped, a backslash doubled (a
 * label would read it as an escape), control bytes as the visible text '\xHH'. */
static void print_dot_string(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p == '"')
            fputs("\\\"", stdout);
        else if (*p == '\\')
            fputs("\\\\", stdout);
        else if (*p < 0x20 || *p == 0x7f)
            printf("\\\\x%02x", *p);
        else
            putchar(*p);
    }
}

/* Graphviz: a node per component (dashed when terminated), an edge A -> B per dependency
 * of A on B: solid to the parent, dashed to every other dependency. Node ids are 'cH'. */
static void graph_dot(const srtm_graph *g)
{
    puts("digraph srtm {\n"
         "  rankdir=BT;\n"
         "  node [shape=box, fontname=\"Helvetica\"];\n"
         "  edge [fontname=\"Helvetica\"];");
    for (size_t i = 0; i < srtm_graph_count(g); i++) {
        printf("  c%llu [label=\"", (unsigned long long)srtm_graph_handle(g, i));
        print_dot_string(srtm_graph_name(g, i));
        printf("\"%s];\n", srtm_graph_terminated(g, i) ? ", style=dashed" : "");
    }
    for (size_t i = 0; i < srtm_graph_count(g); i++) {
        uint64_t h = srtm_graph_handle(g, i), parent = srtm_graph_parent(g, i);
        size_t n = 0;
        const uint64_t *deps = srtm_graph_deps(g, i, &n);
        for (size_t k = 0; k < n; k++)
            printf("  c%llu -> c%llu [style=%s];\n", (unsigned long long)h,
                   (unsigned long long)deps[k],
                   deps[k] == parent && h != 0 ? "solid" : "dashed");
    }
    puts("}");
}

static int graph_run(ctx *c, const void *args)
{
    const graph_args *a = args;
    const char *name = NULL;
    int rc = a->name != NULL ? ctl_component(c, a->name, &name) : CTL_CONTINUE;
    if (rc != CTL_CONTINUE)
        return rc;
    srtm_graph *g = NULL;
    srtm_err err = srtm_graph_read(c->conn, name, &g);
    if (err != SRTM_OK)
        return fail(c, err);
    rc = CTL_OK;
    if (a->dot)
        graph_dot(g);
    else if (c->g.json)
        rc = graph_json(g);
    else
        graph_text(g);
    srtm_graph_free(g);
    return rc;
}

static const struct option graph_opts[] = {
    {"dot", no_argument, NULL, O_DOT},
    OPT_HELP,
    OPT_END,
};

static int graph_option(const command *cmd, int code, const char *arg, void *args)
{
    (void)arg;
    graph_args *a = args;
    if (code != O_DOT)
        return usage_error(cmd, "unexpected option");
    a->dot = true;
    return CTL_CONTINUE;
}

static int graph_parse(const command *cmd, const globals *g, int argc, char **argv, void *args)
{
    graph_args *a = args;
    int first = 0;
    int rc = ctl_getopt(cmd, argc, argv, NULL, graph_opts, graph_option, a, &first);
    if (rc == CTL_CONTINUE)
        rc = ctl_count_positionals(cmd, argc - first, 0, 1);
    if (rc == CTL_CONTINUE && argc - first == 1)
        rc = ctl_take_name(cmd, argv[first], true, &a->name);
    if (rc == CTL_CONTINUE && a->dot && g->json)
        rc = usage_error(cmd, "--dot and --json exclude each other");
    return rc;
}

const command ctl_cmd_graph = {
    .name = "graph",
    .parse = graph_parse,
    .run = graph_run,
    .args_size = sizeof(graph_args),
    .synopsis = "graph [NAME] [--dot]",
    .help = "Print the dependency graph: of NAME and everything it depends on, or of every\n"
            "component. One line per component in handle order:\n"
            "'HANDLE NAME parent=P deps=X,Y' and ' terminated' at the end when it is;\n"
            "P and X,Y are names ('-': none; in them ' ', ',', '=' and '#' are written\n"
            "'\\xHH', and '#H' stands for a handle the graph does not hold).\n"
            "  --dot             print a Graphviz digraph instead: a box per component\n"
            "                    (dashed when terminated), an edge A -> B per dependency\n"
            "                    of A on B (solid to the parent, dashed otherwise);\n"
            "                    render with 'dot -Tpng'. Not with --json.\n"
            "JSON: {\"components\":[{\"component\",\"handle\",\"parent\",\"parent_handle\",\n"
            "\"depends_on\":[names],\"depends_on_handles\":[handles],\"terminated\"}]}\n"
            "(no parent fields for component 0, no depends_on fields without dependencies)\n",
};

/* ---- components named by path ------------------------------------------------------ */

/* The path of node i of g ("platform/dm/vm-b") into out; false when g lacks a parent or
 * the path does not fit. */
static bool graph_path(const srtm_graph *g, size_t i, char *out, size_t size)
{
    char tmp[MAX_PATH_ARG + 1];
    snprintf(out, size, "%s", srtm_graph_name(g, i));
    for (size_t hops = 0; srtm_graph_handle(g, i) != 0; hops++) {
        uint64_t up = srtm_graph_parent(g, i);
        size_t j = 0, n = srtm_graph_count(g);
        while (j < n && srtm_graph_handle(g, j) != up)
            j++;
        if (j == n || hops >= n)
            return false;
        int w = snprintf(tmp, sizeof(tmp), "%s/%s", srtm_graph_name(g, j), out);
        if (w < 0 || (size_t)w >= sizeof(tmp) || (size_t)w >= size)
            return false;
        memcpy(out, tmp, (size_t)w + 1);
        i = j;
    }
    return true;
}

/*
 * A component given by its path, as the verifier names it (docs/verifier.md, "Names and
 * paths"): srtmd knows names, which are unique, so the last name is looked up and its
 * parent chain (part of its dependency closure) must be the path given. *name points into
 * path on success.
 */
static int resolve_path(ctx *c, const char *path, const char **name)
{
    const char *last = strrchr(path, '/') + 1;
    srtm_graph *g = NULL;
    srtm_err err = srtm_graph_read(c->conn, last, &g);
    if (err != SRTM_OK)
        return fail(c, err);
    char got[MAX_PATH_ARG + 1] = "";
    bool same = false;
    for (size_t i = 0; i < srtm_graph_count(g) && !same; i++)
        if (strcmp(srtm_graph_name(g, i), last) == 0)
            same = graph_path(g, i, got, sizeof(got)) && strcmp(got, path) == 0;
    srtm_graph_free(g);
    if (!same) {
        fprintf(stderr, "srtmctl: %s: no component at the path %s ('%s' is at %s)\n",
                srtm_strerror(SRTM_E_NO_COMPONENT), path, last, got[0] ? got : "no known path");
        json_error(c, SRTM_E_NO_COMPONENT, "no component at that path");
        return exit_code_for(SRTM_E_NO_COMPONENT);
    }
    *name = last;
    return CTL_CONTINUE;
}

int ctl_component(ctx *c, const char *arg, const char **name)
{
    if (strchr(arg, '/') == NULL) {
        *name = arg;
        return CTL_CONTINUE;
    }
    return resolve_path(c, arg, name);
}
