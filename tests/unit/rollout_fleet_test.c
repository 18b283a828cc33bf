/*
 * rollout_fleet_test.c — fleets and plans (lib/rollout/fleet.c, plan.c):
 * a Fleet YAML file expanded to exact counts per tenant, group, sensor
 * build and offline share; determinism by seed; every validation error with
 * its line; the generator (exact totals, at least one host per tenant, a
 * heavy tail, policy shares, internal hosts on every sensor build); plan
 * files over the default plan, and every impossible plan refused.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ringfence/rollout.h"
#include "ringfence/util.h"

static char tmpdir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/rf-fleet-test.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Write text to a file in the test directory; returns its path (static). */
static const char *write_tmp(const char *name, const char *text)
{
    static char path[256];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
    return path;
}

static rf_fleet *load_ok(const char *text, uint64_t seed)
{
    const char *path = write_tmp("ok.yaml", text);
    rf_fleet *f = NULL;
    rf_err err;
    rf_rc rc = rf_fleet_load(path, seed, &f, &err);
    if (rc)
        fail_msg("%s: %s:%u:%u: %s", rf_strerror(rc), err.file, err.line, err.col, err.msg);
    assert_non_null(f);
    return f;
}

static uint32_t group_of(const rf_fleet *f, const char *tenant, const char *group)
{
    for (uint32_t g = 0; g < f->ngroups; g++)
        if (!strcmp(f->groups[g].name, group) &&
            !strcmp(f->tenants[f->groups[g].tenant].name, tenant))
            return g;
    fail_msg("no group %s/%s", tenant, group);
    return UINT32_MAX;
}

static uint32_t hosts_in_group(const rf_fleet *f, uint32_t g)
{
    uint32_t n = 0;
    for (uint32_t h = 0; h < f->nhosts; h++)
        n += f->host_group[h] == g;
    return n;
}

static const char fleet_yaml[] =
    "fleet: test\n"                                                      /* 1 */
    "checkin_interval: 5m\n"                                             /* 2 */
    "sensors:\n"                                                         /* 3 */
    "  - {version: \"7.11.18110\", inputs: 20, share: 0.7}\n"            /* 4 */
    "  - {version: \"7.16.18605\", inputs: 21, share: 30%}\n"            /* 5 */
    "offline: 0.02\n"                                                    /* 6 */
    "tenants:\n"                                                         /* 7 */
    "  - {name: vendor, internal: true, hosts: 30}\n"                    /* 8 */
    "  - name: acme\n"                                                   /* 9 */
    "    hosts: 1200\n"                                                  /* 10 */
    "    emergency_opt_in: true\n"                                       /* 11 */
    "    groups:\n"                                                      /* 12 */
    "      - {name: servers, share: 0.25, policy: ga, delay: 24h}\n"     /* 13 */
    "      - {name: laptops, share: 0.75, policy: early}\n"              /* 14 */
    "  - {name: bluebank, hosts: 500, policy: pinned, version: 4}\n"     /* 15 */
    "  - {name: citygov, hosts: 81, policy: paused}\n"                   /* 16 */
    "  - {name: dataworks, hosts: 0, policy: ga, delay: 1h30m}\n";       /* 17 */

static void test_load_counts(void **state)
{
    (void)state;
    rf_fleet *f = load_ok(fleet_yaml, 7);
    assert_int_equal(f->nhosts, 30 + 1200 + 500 + 81);
    assert_int_equal(f->ntenants, 5);
    assert_int_equal(f->ngroups, 6);
    assert_int_equal(f->nsensors, 2);
    assert_string_equal(f->sensors[0].version, "7.11.18110");
    assert_int_equal(f->sensors[0].inputs, 20);
    assert_int_equal(f->sensors[1].inputs, 21);
    assert_true(f->tenants[0].internal);
    assert_false(f->tenants[1].internal);

    uint32_t gv = group_of(f, "vendor", "default"), gs = group_of(f, "acme", "servers"),
             gl = group_of(f, "acme", "laptops"), gp = group_of(f, "bluebank", "default"),
             gz = group_of(f, "citygov", "default"), gd = group_of(f, "dataworks", "default");
    assert_int_equal(hosts_in_group(f, gv), 30);
    assert_int_equal(hosts_in_group(f, gs), 300);
    assert_int_equal(hosts_in_group(f, gl), 900);
    assert_int_equal(hosts_in_group(f, gp), 500);
    assert_int_equal(hosts_in_group(f, gz), 81);
    assert_int_equal(hosts_in_group(f, gd), 0);

    assert_int_equal(f->groups[gs].policy.mode, RF_POLICY_GA);
    assert_int_equal(f->groups[gs].policy.ga_delay_s, 86400);
    assert_true(f->groups[gs].policy.emergency_opt_in);
    assert_int_equal(f->groups[gl].policy.mode, RF_POLICY_EARLY);
    assert_int_equal(f->groups[gl].policy.ga_delay_s, 0);
    assert_true(f->groups[gl].policy.emergency_opt_in);
    assert_int_equal(f->groups[gp].policy.mode, RF_POLICY_PINNED);
    assert_int_equal(f->groups[gp].policy.pinned_version, 4);
    assert_false(f->groups[gp].policy.emergency_opt_in);
    assert_int_equal(f->groups[gz].policy.mode, RF_POLICY_PAUSED);
    assert_int_equal(f->groups[gd].policy.ga_delay_s, 5400);

    /* Internal hosts first, round-robin over both builds; customers split
     * 70/30 exactly (1781 * 0.7 = 1246.7 -> 1247), offline round(2%). */
    uint32_t sens[2][2] = {{0, 0}, {0, 0}}, offline = 0;
    for (uint32_t h = 0; h < f->nhosts; h++) {
        int internal = f->tenants[f->groups[f->host_group[h]].tenant].internal;
        if (h < 30)
            assert_true(internal);
        assert_true(f->host_sensor[h] < 2);
        sens[internal][f->host_sensor[h]]++;
        offline += (f->host_flags[h] & RF_HOST_OFFLINE) != 0;
        assert_int_equal(f->host_flags[h] & ~RF_HOST_OFFLINE, 0);
    }
    assert_int_equal(sens[1][0], 15);
    assert_int_equal(sens[1][1], 15);
    assert_int_equal(sens[0][0], 1247);
    assert_int_equal(sens[0][1], 534);
    assert_int_equal(offline, 36); /* 0.02 * 1811 = 36.22 */
    /* The builds are mixed within a tenant, not laid out in blocks. */
    uint32_t acme711 = 0;
    for (uint32_t h = 0; h < f->nhosts; h++)
        acme711 += f->host_group[h] == gl && f->host_sensor[h] == 0;
    assert_true(acme711 > 500 && acme711 < 760);
    rf_fleet_free(f);
}

static void assert_same_fleet(const rf_fleet *a, const rf_fleet *b)
{
    assert_int_equal(a->nhosts, b->nhosts);
    assert_int_equal(a->ntenants, b->ntenants);
    assert_int_equal(a->ngroups, b->ngroups);
    assert_memory_equal(a->tenants, b->tenants, a->ntenants * sizeof(*a->tenants));
    assert_memory_equal(a->groups, b->groups, a->ngroups * sizeof(*a->groups));
    assert_memory_equal(a->host_group, b->host_group, a->nhosts * sizeof(*a->host_group));
    assert_memory_equal(a->host_sensor, b->host_sensor, a->nhosts * sizeof(*a->host_sensor));
    assert_memory_equal(a->host_flags, b->host_flags, a->nhosts);
}

static void test_load_deterministic(void **state)
{
    (void)state;
    rf_fleet *a = load_ok(fleet_yaml, 11), *b = load_ok(fleet_yaml, 11),
             *c = load_ok(fleet_yaml, 12);
    assert_same_fleet(a, b);
    /* Another seed: same counts, other hosts. */
    assert_int_equal(a->nhosts, c->nhosts);
    assert_memory_equal(a->host_group, c->host_group, a->nhosts * sizeof(*a->host_group));
    assert_memory_not_equal(a->host_sensor, c->host_sensor, a->nhosts * sizeof(*a->host_sensor));
    assert_memory_not_equal(a->host_flags, c->host_flags, a->nhosts);
    rf_fleet_free(a);
    rf_fleet_free(b);
    rf_fleet_free(c);
}

typedef struct bad_case {
    const char *yaml;
    rf_rc rc;
    uint32_t line;
    const char *msg;
} bad_case;

#define HEAD "fleet: t\n"
#define T1 "tenants:\n  - {name: a, hosts: 10}\n"

static void test_load_errors(void **state)
{
    (void)state;
    static const bad_case cases[] = {
        /* sensor shares */
        {HEAD "sensors:\n  - {version: \"1.0\", inputs: 3, share: 0.5}\n"
              "  - {version: \"2.0\", inputs: 3, share: 0.4}\n" T1,
         RF_E_SCHEMA, 3, "shares of 'sensors' sum to 0.9"},
        /* group shares */
        {HEAD "tenants:\n  - name: a\n    hosts: 10\n    groups:\n"
              "      - {name: x, share: 0.5}\n      - {name: y, share: 0.6}\n",
         RF_E_SCHEMA, 6, "groups of tenant 'a' sum to 1.1"},
        /* GA delay over 72 h */
        {HEAD "tenants:\n  - {name: a, hosts: 10, delay: 73h}\n", RF_E_SCHEMA, 3,
         "between 0s and 259200s"},
        {HEAD "tenants:\n  - {name: a, hosts: 10, delay: 3d}\n", RF_OK, 0, NULL}, /* 3 days is the limit */
        /* duplicate names */
        {HEAD "tenants:\n  - {name: a, hosts: 1}\n  - {name: b, hosts: 1}\n"
              "  - {name: a, hosts: 1}\n",
         RF_E_SCHEMA, 5, "tenant name 'a' is used twice (first at line 3)"},
        {HEAD "tenants:\n  - name: a\n    hosts: 10\n    groups:\n"
              "      - {name: x, share: 0.5}\n      - {name: x, share: 0.5}\n",
         RF_E_SCHEMA, 7, "group name 'x' is used twice"},
        {HEAD "sensors:\n  - {version: \"1.0\", inputs: 3, share: 0.5}\n"
              "  - {version: \"1.0\", inputs: 4, share: 0.5}\n" T1,
         RF_E_SCHEMA, 4, "listed twice"},
        /* unknown keys */
        {HEAD "tenants:\n  - {name: a, hosts: 10, hostz: 3}\n", RF_E_SCHEMA, 3,
         "unknown key 'hostz'"},
        {HEAD T1 "colour: blue\n", RF_E_SCHEMA, 4, "unknown key 'colour'"},
        {HEAD "tenants:\n  - name: a\n    hosts: 10\n    groups:\n"
              "      - {name: x, share: 1, delay_h: 3}\n",
         RF_E_SCHEMA, 6, "unknown key 'delay_h'"},
        /* negative and oversized counts */
        {HEAD "tenants:\n  - {name: a, hosts: -5}\n", RF_E_SCHEMA, 3, "outside the allowed range"},
        {HEAD "tenants:\n  - {name: a, hosts: 20000001}\n", RF_E_SCHEMA, 3,
         "outside the allowed range"},
        {HEAD "tenants:\n  - {name: a, hosts: 15000000}\n  - {name: b, hosts: 6000000}\n",
         RF_E_LIMIT, 4, "more than 20000000 hosts"},
        {HEAD "sensors:\n  - {version: \"1.0\", inputs: -1, share: 1}\n" T1, RF_E_SCHEMA, 3,
         "'inputs'"},
        /* durations */
        {HEAD "tenants:\n  - {name: a, hosts: 10, delay: 5x}\n", RF_E_SCHEMA, 3,
         "is not a duration"},
        {HEAD "tenants:\n  - {name: a, hosts: 10, delay: m5}\n", RF_E_SCHEMA, 3,
         "is not a duration"},
        {HEAD "tenants:\n  - {name: a, hosts: 10, delay: -5m}\n", RF_E_SCHEMA, 3,
         "is not a duration"},
        {HEAD "tenants:\n  - {name: a, hosts: 10, delay: 1.5}\n", RF_E_SCHEMA, 3,
         "must be a duration"},
        {HEAD "checkin_interval: 0s\n" T1, RF_E_SCHEMA, 2, "out of range"},
        /* policies */
        {HEAD "tenants:\n  - {name: a, hosts: 10, policy: pinned}\n", RF_E_SCHEMA, 3,
         "needs 'version'"},
        {HEAD "tenants:\n  - {name: a, hosts: 10, policy: early, delay: 1h}\n", RF_E_SCHEMA, 3,
         "applies only to policy ga"},
        {HEAD "tenants:\n  - {name: a, hosts: 10, version: 3}\n", RF_E_SCHEMA, 3,
         "applies only to policy pinned"},
        {HEAD "tenants:\n  - {name: a, hosts: 10, policy: sometimes}\n", RF_E_SCHEMA, 3,
         "unknown policy 'sometimes'"},
        /* shares and names */
        {HEAD "offline: 150%\n" T1, RF_E_SCHEMA, 2, "outside 0%..100%"},
        {HEAD "offline: 1.5\n" T1, RF_E_SCHEMA, 2, "outside 0..1"},
        {HEAD "tenants:\n  - {name: \"a b\", hosts: 10}\n", RF_E_SCHEMA, 3, "not a valid name"},
        {HEAD "tenants:\n  - {name: a}\n", RF_E_SCHEMA, 3, "missing required key 'hosts'"},
        {"tenants:\n  - {name: a, hosts: 1}\n", RF_E_SCHEMA, 1, "missing required key 'fleet'"},
        {HEAD "offline: 0.1\n", RF_E_SCHEMA, 1, "needs 'tenants', 'generate' or both"},
        {HEAD "tenants:\n  - {name: a, hosts: 0}\n", RF_E_SCHEMA, 3, "no hosts"},
        {HEAD "tenants:\n  - name: a\n    hosts: 4\n    groups: []\n", RF_E_SCHEMA, 5,
         "lists no group"},
        /* generate */
        {HEAD "generate: {hosts: 10, tenants: 20}\n", RF_E_SCHEMA, 2, "cannot fill 20 tenants"},
        {HEAD "generate: {hosts: 10, tenants: 2, share_early: 0.6, share_paused: 0.6}\n",
         RF_E_SCHEMA, 2, "more than 1"},
        {HEAD "generate: {hosts: 10, tenants: 2, tenant_alpha: 0}\n", RF_E_SCHEMA, 2,
         "'tenant_alpha'"},
        {HEAD "tenants:\n  - {name: vendor, hosts: 5}\n"
              "generate: {hosts: 10, tenants: 2}\n",
         RF_E_SCHEMA, 4, "set internal_hosts: 0"},
        {HEAD "generate: {hosts: 10}\n", RF_E_SCHEMA, 2, "missing required key 'tenants'"},
        /* not YAML we take */
        {HEAD "tenants: [\n", RF_E_PARSE, 0, "YAML syntax error"},
        {HEAD "tenants:\n  - &x {name: a, hosts: 1}\n", RF_E_PARSE, 3, "anchors"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const bad_case *c = &cases[i];
        const char *path = write_tmp("bad.yaml", c->yaml);
        rf_fleet *f = NULL;
        rf_err err;
        rf_err_clear(&err);
        rf_rc rc = rf_fleet_load(path, 1, &f, &err);
        if (c->rc == RF_OK) {
            if (rc)
                fail_msg("case %zu: %s: %s", i, rf_strerror(rc), err.msg);
            rf_fleet_free(f);
            continue;
        }
        if (rc != c->rc)
            fail_msg("case %zu: expected %s, got %s (%u: %s)", i, rf_strerror(c->rc),
                     rf_strerror(rc), err.line, err.msg);
        assert_null(f);
        if (c->line && err.line != c->line)
            fail_msg("case %zu: expected line %u, got %u: %s", i, c->line, err.line, err.msg);
        if (!strstr(err.msg, c->msg))
            fail_msg("case %zu: message lacks '%s': %s", i, c->msg, err.msg);
        assert_string_equal(err.file, path);
        assert_true(err.line >= 1 && err.col >= 1);
    }
    /* A missing file is an I/O error. */
    rf_fleet *f = NULL;
    rf_err err;
    assert_int_equal(rf_fleet_load("/nonexistent/fleet.yaml", 1, &f, &err), RF_E_IO);
    assert_null(f);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void test_generate(void **state)
{
    (void)state;
    rf_fleet_gen g;
    memset(&g, 0, sizeof(g));
    g.hosts = 200000;
    g.tenants = 2000;
    rf_fleet_gen_default(&g);
    assert_int_equal(g.hosts, 200000); /* left as given */
    assert_int_equal(g.internal_hosts, 2000);
    assert_true(g.tenant_alpha == 1.2 && g.share_emergency == 0.30 && g.offline == 0.02);
    rf_fleet *f = NULL;
    rf_err err;
    assert_int_equal(rf_fleet_generate(&g, 42, &f, &err), RF_OK);
    assert_int_equal(f->nhosts, 202000);
    assert_int_equal(f->ntenants, 2001);
    assert_int_equal(f->ngroups, 2001);
    assert_int_equal(f->nsensors, 2);
    assert_string_equal(f->sensors[0].version, "7.11.18110");
    assert_int_equal(f->sensors[0].inputs, 20);
    assert_string_equal(f->sensors[1].version, "7.16.18605");
    assert_int_equal(f->sensors[1].inputs, 21);
    assert_true(f->tenants[0].internal);

    uint32_t *size = calloc(f->ntenants, sizeof(*size));
    uint32_t internal_sens[2] = {0, 0}, cust_sens[2] = {0, 0}, offline = 0;
    for (uint32_t h = 0; h < f->nhosts; h++) {
        uint32_t t = f->groups[f->host_group[h]].tenant;
        size[t]++;
        if (f->tenants[t].internal)
            internal_sens[f->host_sensor[h]]++;
        else
            cust_sens[f->host_sensor[h]]++;
        offline += (f->host_flags[h] & RF_HOST_OFFLINE) != 0;
    }
    assert_int_equal(size[0], 2000);
    assert_int_equal(internal_sens[0], 1000);
    assert_int_equal(internal_sens[1], 1000);
    assert_int_equal(cust_sens[0], 120000);
    assert_int_equal(cust_sens[1], 80000);
    assert_int_equal(offline, 4040);
    uint64_t sum = 0;
    for (uint32_t t = 1; t < f->ntenants; t++) {
        assert_true(size[t] >= 1);
        sum += size[t];
    }
    assert_int_equal(sum, 200000);
    /* Heavy tail: the largest tenant is far above the median. */
    qsort(size + 1, f->ntenants - 1, sizeof(*size), cmp_u32);
    uint32_t median = size[1 + (f->ntenants - 1) / 2], largest = size[f->ntenants - 1];
    assert_true(largest > 20 * median);
    free(size);

    uint32_t mode[4] = {0, 0, 0, 0}, delayed = 0, emergency = 0;
    for (uint32_t gi = 1; gi < f->ngroups; gi++) {
        const rf_policy *p = &f->groups[gi].policy;
        mode[p->mode]++;
        if (p->mode == RF_POLICY_GA && p->ga_delay_s) {
            delayed++;
            assert_true(p->ga_delay_s >= 3600 && p->ga_delay_s <= 72 * 3600);
        }
        if (p->mode == RF_POLICY_PINNED)
            assert_true(p->pinned_version >= 1);
        emergency += p->emergency_opt_in != 0;
    }
    assert_in_range(mode[RF_POLICY_EARLY], 99, 101);
    assert_in_range(delayed, 199, 201);
    assert_in_range(mode[RF_POLICY_PINNED], 39, 41);
    assert_in_range(mode[RF_POLICY_PAUSED], 19, 21);
    assert_in_range(emergency, 590, 610);
    assert_int_equal(mode[RF_POLICY_GA], 2000 - mode[1] - mode[2] - mode[3]);

    /* Same seed, same fleet; another seed, another. */
    rf_fleet *f2 = NULL, *f3 = NULL;
    assert_int_equal(rf_fleet_generate(&g, 42, &f2, &err), RF_OK);
    assert_same_fleet(f, f2);
    assert_int_equal(rf_fleet_generate(&g, 43, &f3, &err), RF_OK);
    assert_int_equal(f3->nhosts, f->nhosts);
    assert_memory_not_equal(f->host_group, f3->host_group, f->nhosts * sizeof(uint32_t));
    rf_fleet_free(f);
    rf_fleet_free(f2);
    rf_fleet_free(f3);
}

static void test_generate_sensors_and_bounds(void **state)
{
    (void)state;
    rf_fleet_sensor s[3] = {{"1.0", 5}, {"2.0", 6}, {"3.0", 7}};
    double share[3] = {0.2, 0.3, 0.5};
    rf_fleet_gen g;
    memset(&g, 0, sizeof(g));
    rf_fleet_gen_default(&g);
    g.hosts = 1000;
    g.tenants = 10;
    g.internal_hosts = 7;
    g.offline = 0;
    g.nsensors = 3;
    g.sensors = s;
    g.sensor_share = share;
    rf_fleet *f = NULL;
    rf_err err;
    assert_int_equal(rf_fleet_generate(&g, 1, &f, &err), RF_OK);
    assert_int_equal(f->nhosts, 1007);
    uint32_t per[3] = {0, 0, 0}, off = 0;
    for (uint32_t h = 0; h < 7; h++)
        per[f->host_sensor[h]]++;
    assert_int_equal(per[0], 3); /* round-robin: 0 1 2 0 1 2 0 */
    assert_int_equal(per[1], 2);
    assert_int_equal(per[2], 2);
    for (uint32_t h = 0; h < f->nhosts; h++)
        off += f->host_flags[h] != 0;
    assert_int_equal(off, 0);
    rf_fleet_free(f);

    /* Exactly one host per tenant. */
    g.hosts = 10;
    assert_int_equal(rf_fleet_generate(&g, 1, &f, &err), RF_OK);
    for (uint32_t t = 1; t < f->ntenants; t++)
        assert_int_equal(hosts_in_group(f, t), 1);
    rf_fleet_free(f);

    /* Impossible parameters. */
    rf_fleet_gen b = g;
    b.hosts = 5; /* fewer than tenants */
    f = NULL;
    assert_int_equal(rf_fleet_generate(&b, 1, &f, &err), RF_E_USAGE);
    assert_null(f);
    assert_non_null(strstr(err.msg, "at least as many hosts"));
    b = g;
    b.share_early = 0.6;
    b.share_delayed = 0.6;
    assert_int_equal(rf_fleet_generate(&b, 1, &f, &err), RF_E_USAGE);
    b = g;
    b.tenant_alpha = 0;
    assert_int_equal(rf_fleet_generate(&b, 1, &f, &err), RF_E_USAGE);
    b = g;
    b.tenant_alpha = NAN;
    assert_int_equal(rf_fleet_generate(&b, 1, &f, &err), RF_E_USAGE);
    b = g;
    b.offline = -0.1;
    assert_int_equal(rf_fleet_generate(&b, 1, &f, &err), RF_E_USAGE);
    b = g;
    share[2] = 0.4; /* shares sum to 0.9 */
    assert_int_equal(rf_fleet_generate(&b, 1, &f, &err), RF_E_USAGE);
    assert_non_null(strstr(err.msg, "sum to"));
    share[2] = 0.5;
    b = g;
    b.hosts = 19000000;
    b.internal_hosts = 1000001;
    assert_int_equal(rf_fleet_generate(&b, 1, &f, &err), RF_E_USAGE);
    assert_non_null(strstr(err.msg, "limit"));
    b = g;
    b.hosts = 0;
    b.tenants = 0;
    b.internal_hosts = 0;
    assert_int_equal(rf_fleet_generate(&b, 1, &f, &err), RF_E_USAGE);
    assert_non_null(strstr(err.msg, "no hosts"));
    assert_null(f);
}

static void test_load_generate(void **state)
{
    (void)state;
    rf_fleet *f = load_ok(HEAD "sensors:\n  - {version: \"9.1\", inputs: 9, share: 1}\n"
                               "offline: 0\n"
                               "tenants:\n  - {name: big, hosts: 100, policy: paused}\n"
                               "generate: {hosts: 5000, tenants: 50, internal_hosts: 20,"
                               " share_early: 0.1, share_delayed: 0, share_pinned: 0,"
                               " share_paused: 0, share_emergency: 1, tenant_alpha: 2}\n",
                          3);
    assert_int_equal(f->nhosts, 5120);
    assert_int_equal(f->ntenants, 52);
    assert_string_equal(f->tenants[0].name, "big");
    assert_string_equal(f->tenants[1].name, "vendor");
    assert_true(f->tenants[1].internal);
    assert_string_equal(f->tenants[2].name, "tenant-000001");
    uint32_t early = 0;
    for (uint32_t g = 2; g < f->ngroups; g++) {
        early += f->groups[g].policy.mode == RF_POLICY_EARLY;
        assert_true(f->groups[g].policy.emergency_opt_in);
        assert_int_equal(f->groups[g].policy.ga_delay_s, 0);
    }
    assert_int_equal(early, 5);
    assert_int_equal(hosts_in_group(f, 0), 100);
    assert_int_equal(hosts_in_group(f, 1), 20);
    rf_fleet_free(f);

    /* The example fleets load. */
    rf_err err;
    assert_int_equal(rf_fleet_load(RF_SOURCE_DIR "/examples/fleets/small.yaml", 1, &f, &err),
                     RF_OK);
    assert_int_equal(f->nhosts, 5000);
    rf_fleet_free(f);
}

/* ---- plans -------------------------------------------------------------------------- */

static void test_plan_default(void **state)
{
    (void)state;
    rf_plan def, p;
    rf_err err;
    rf_plan_default(&def);
    assert_int_equal(rf_plan_check(&def, &err), RF_OK);
    rf_rc rc = rf_plan_load(RF_SOURCE_DIR "/examples/plans/default.yaml", &p, &err);
    if (rc)
        fail_msg("%s:%u:%u: %s", err.file, err.line, err.col, err.msg);
    /* examples/plans/default.yaml is the default plan written out. */
    assert_string_equal(p.name, def.name);
    assert_int_equal(p.nwaves, def.nwaves);
    for (uint32_t i = 0; i < p.nwaves; i++) {
        assert_string_equal(p.waves[i].name, def.waves[i].name);
        assert_int_equal(p.waves[i].ring, def.waves[i].ring);
        assert_true(p.waves[i].fraction == def.waves[i].fraction);
        assert_int_equal(p.waves[i].bake_s, def.waves[i].bake_s);
        assert_int_equal(p.waves[i].emergency_bake_s, def.waves[i].emergency_bake_s);
        assert_int_equal(p.waves[i].min_reports, def.waves[i].min_reports);
    }
    assert_int_equal(p.checkin_interval_s, def.checkin_interval_s);
    assert_int_equal(p.silence_grace_s, def.silence_grace_s);
    assert_true(p.gates.alpha == def.gates.alpha);
    assert_true(p.gates.silence_ratio == def.gates.silence_ratio);
    assert_true(p.gates.detect_ratio == def.gates.detect_ratio);
    assert_true(p.gates.fail_p0 == def.gates.fail_p0);
    assert_true(p.gates.fail_p1 == def.gates.fail_p1);
    assert_true(fabs(p.gates.cpu_shift - def.gates.cpu_shift) < 1e-8);
    assert_int_equal(p.gates.cpu_min_control, def.gates.cpu_min_control);

    /* A partial file keeps the defaults for what it leaves out. */
    const char *path = write_tmp("p.yaml", "plan: quick\ncheckin_interval: 1m\n"
                                           "gates: {alpha: 1e-4, cpu_ratio: 2}\n");
    assert_int_equal(rf_plan_load(path, &p, &err), RF_OK);
    assert_string_equal(p.name, "quick");
    assert_int_equal(p.checkin_interval_s, 60);
    assert_int_equal(p.silence_grace_s, 90);
    assert_true(p.gates.alpha == 1e-4);
    assert_true(fabs(p.gates.cpu_shift - log(2.0)) < 1e-12);
    assert_int_equal(p.nwaves, def.nwaves);

    /* A waves list replaces every wave; emergency_bake defaults to bake. */
    path = write_tmp("p.yaml", "plan: two\nwaves:\n"
                               "  - {name: in, ring: internal, fraction: 1, bake: 5m}\n"
                               "  - {name: all, ring: ga, fraction: 100%, bake: 1h,"
                               " emergency_bake: 0s, min_reports: 7}\n");
    assert_int_equal(rf_plan_load(path, &p, &err), RF_OK);
    assert_int_equal(p.nwaves, 2);
    assert_int_equal(p.waves[0].bake_s, 300);
    assert_int_equal(p.waves[0].emergency_bake_s, 300);
    assert_int_equal(p.waves[0].min_reports, 0);
    assert_int_equal(p.waves[1].ring, RF_RING_GA);
    assert_int_equal(p.waves[1].bake_s, 3600);
    assert_int_equal(p.waves[1].emergency_bake_s, 0);
    assert_int_equal(p.waves[1].min_reports, 7);
}

#define PH "plan: p\n"
#define W_IN "  - {name: in, ring: internal, fraction: 100%, bake: 5m}\n"
#define W_GA "  - {name: all, ring: ga, fraction: 100%, bake: 5m}\n"

static void test_plan_errors(void **state)
{
    (void)state;
    static const bad_case cases[] = {
        {PH "waves:\n  - {name: a, ring: ga, fraction: 50%, bake: 5m}\n"
            "  - {name: b, ring: ga, fraction: 40%, bake: 5m}\n" W_GA,
         RF_E_SCHEMA, 4, "wave 2 'b': fraction 0.4 does not grow"},
        {PH "waves:\n  - {name: a, ring: ga, fraction: 50%, bake: 5m}\n"
            "  - {name: b, ring: ga, fraction: 50%, bake: 5m}\n" W_GA,
         RF_E_SCHEMA, 4, "does not grow"},
        {PH "waves:\n" W_GA W_IN, RF_E_SCHEMA, 4, "rings go in the order internal, early, ga"},
        {PH "waves:\n  - {name: a, ring: internal, fraction: 50%, bake: 5m}\n" W_GA,
         RF_E_SCHEMA, 3, "ring internal ends here at fraction 0.5"},
        {PH "waves:\n  - {name: a, ring: ga, fraction: 50%, bake: 5m}\n", RF_E_SCHEMA, 3,
         "the last wave of a ring must reach 1.0"},
        {PH "waves:\n" W_IN, RF_E_SCHEMA, 3, "must end with a ga wave"},
        {PH "waves:\n  - {name: a, ring: ga, fraction: 1, bake: 5m, emergency_bake: 6m}\n",
         RF_E_SCHEMA, 3, "wave 1 'a': emergency_bake 360s is longer than bake 300s"},
        {PH "waves:\n  - {name: a, ring: ga, fraction: 0, bake: 5m}\n", RF_E_SCHEMA, 3,
         "fraction 0 is outside (0, 1]"},
        {PH "waves:\n  - {name: a, ring: ga, fraction: 1.5, bake: 5m}\n", RF_E_SCHEMA, 3,
         "outside 0..1"},
        {PH "waves:\n  - {name: a, ring: ga, fraction: 1, bake: -5m}\n", RF_E_SCHEMA, 3,
         "not a duration"},
        {PH "waves:\n  - {name: a, ring: ga, fraction: 1, bake: 8d}\n", RF_E_SCHEMA, 3,
         "out of range"},
        {PH "waves:\n  - {name: a, ring: ga, fraction: 1, bake: 5m, min_reports: 2000000}\n",
         RF_E_SCHEMA, 3, "'min_reports'"},
        {PH "waves:\n  - {name: a, ring: ga, fraction: 1, bake: 5m, min_reports: -1}\n",
         RF_E_SCHEMA, 3, "'min_reports'"},
        {PH "waves:\n  - {name: a, ring: weekly, fraction: 1, bake: 5m}\n", RF_E_SCHEMA, 3,
         "unknown ring 'weekly'"},
        {PH "waves:\n  - {name: a, ring: ga, fraction: 1, bake: 5m, soak: 3m}\n", RF_E_SCHEMA,
         3, "unknown key 'soak' in wave 1"},
        {PH "waves:\n  - {name: a, ring: ga, fraction: 1}\n", RF_E_SCHEMA, 3,
         "missing required key 'bake' in wave 1"},
        {PH "waves:\n  - {name: a, ring: ga, fraction: 50%, bake: 5m}\n"
            "  - {name: a, ring: ga, fraction: 1, bake: 5m}\n",
         RF_E_SCHEMA, 4, "already used by wave 1"},
        {PH "waves: []\n", RF_E_SCHEMA, 2, "lists no wave"},
        {PH "gates: {alpha: 0.5}\n", RF_E_SCHEMA, 2, "outside the allowed range"},
        {PH "gates: {alpha: 0}\n", RF_E_SCHEMA, 2, "alpha is 0"},
        {PH "gates: {silence_ratio: 1}\n", RF_E_SCHEMA, 2, "must be above 1"},
        {PH "gates: {detect_ratio: 0.5}\n", RF_E_SCHEMA, 2, "outside the allowed range"},
        {PH "gates: {cpu_ratio: 1}\n", RF_E_SCHEMA, 2, "must be above 1"},
        {PH "gates: {fail_p0: 0.1, fail_p1: 0.05}\n", RF_E_SCHEMA, 2, "above fail_p0"},
        {PH "gates: {cpu_min_control: 0}\n", RF_E_SCHEMA, 2, "'cpu_min_control'"},
        {PH "gates: {alpha: \"0.01\"}\n", RF_E_SCHEMA, 2, "quoted string"},
        {PH "gates: {beta: 3}\n", RF_E_SCHEMA, 2, "unknown key 'beta'"},
        {PH "silence_grace: 0s\n", RF_E_SCHEMA, 2, "out of range"},
        {PH "checkin_interval: soon\n", RF_E_SCHEMA, 2, "is not a duration"},
        {"waves: []\n", RF_E_SCHEMA, 1, "missing required key 'plan'"},
        {PH "- a\n", RF_E_PARSE, 0, "YAML syntax error"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const bad_case *c = &cases[i];
        const char *path = write_tmp("badplan.yaml", c->yaml);
        rf_plan p;
        memset(&p, 0xab, sizeof(p));
        rf_plan before = p;
        rf_err err;
        rf_err_clear(&err);
        rf_rc rc = rf_plan_load(path, &p, &err);
        if (rc != c->rc)
            fail_msg("case %zu: expected %s, got %s (%u: %s)", i, rf_strerror(c->rc),
                     rf_strerror(rc), err.line, err.msg);
        assert_memory_equal(&p, &before, sizeof(p)); /* untouched on failure */
        if (c->line && err.line != c->line)
            fail_msg("case %zu: expected line %u, got %u: %s", i, c->line, err.line, err.msg);
        if (!strstr(err.msg, c->msg))
            fail_msg("case %zu: message lacks '%s': %s", i, c->msg, err.msg);
        assert_string_equal(err.file, path);
    }
    /* 33 waves: one too many. */
    char big[4096];
    size_t o = (size_t)snprintf(big, sizeof(big), PH "waves:\n");
    for (int i = 1; i <= 33; i++)
        o += (size_t)snprintf(big + o, sizeof(big) - o,
                              "  - {name: w%d, ring: ga, fraction: %d%%, bake: 1m}\n", i,
                              i == 33 ? 100 : i);
    rf_plan p;
    rf_err err;
    assert_int_equal(rf_plan_load(write_tmp("big.yaml", big), &p, &err), RF_E_SCHEMA);
    assert_int_equal(err.line, 3);
    assert_non_null(strstr(err.msg, "more than the limit of 32"));
    assert_int_equal(rf_plan_load("/nonexistent/plan.yaml", &p, &err), RF_E_IO);
}

static void test_plan_check(void **state)
{
    (void)state;
    rf_plan p;
    rf_err err;
    rf_plan_default(&p);
    p.nwaves = 0;
    assert_int_equal(rf_plan_check(&p, &err), RF_E_SCHEMA);
    assert_non_null(strstr(err.msg, "no waves"));
    rf_plan_default(&p);
    p.nwaves = RF_MAX_WAVES + 1;
    assert_int_equal(rf_plan_check(&p, &err), RF_E_SCHEMA);
    rf_plan_default(&p);
    p.waves[5].fraction = NAN;
    assert_int_equal(rf_plan_check(&p, &err), RF_E_SCHEMA);
    assert_non_null(strstr(err.msg, "wave 6 'ga-5%'"));
    rf_plan_default(&p);
    p.waves[3].emergency_bake_s = p.waves[3].bake_s + 1;
    assert_int_equal(rf_plan_check(&p, &err), RF_E_SCHEMA);
    assert_non_null(strstr(err.msg, "wave 4 'early-100%'"));
    rf_plan_default(&p);
    p.waves[2].ring = (rf_ring)7;
    assert_int_equal(rf_plan_check(&p, &err), RF_E_SCHEMA);
    assert_non_null(strstr(err.msg, "unknown ring"));
    rf_plan_default(&p);
    p.waves[1].name[0] = 0;
    assert_int_equal(rf_plan_check(&p, &err), RF_E_SCHEMA);
    assert_non_null(strstr(err.msg, "wave 2"));
    rf_plan_default(&p);
    memset(p.waves[1].name, 'x', sizeof(p.waves[1].name)); /* not terminated */
    assert_int_equal(rf_plan_check(&p, &err), RF_E_SCHEMA);
    rf_plan_default(&p);
    p.gates.alpha = NAN;
    assert_int_equal(rf_plan_check(&p, &err), RF_E_SCHEMA);
    rf_plan_default(&p);
    p.gates.fail_p1 = p.gates.fail_p0;
    assert_int_equal(rf_plan_check(&p, &err), RF_E_SCHEMA);
    rf_plan_default(&p);
    p.gates.cpu_shift = 0;
    assert_int_equal(rf_plan_check(&p, &err), RF_E_SCHEMA);
    rf_plan_default(&p);
    p.checkin_interval_s = 0;
    assert_int_equal(rf_plan_check(&p, &err), RF_E_SCHEMA);
    rf_plan_default(&p);
    p.waves[4].min_reports = 2000000;
    assert_int_equal(rf_plan_check(&p, &err), RF_E_SCHEMA);
    rf_plan_default(&p);
    p.waves[7].bake_s = 8 * 86400;
    p.waves[7].emergency_bake_s = 0;
    assert_int_equal(rf_plan_check(&p, &err), RF_E_SCHEMA);
    assert_non_null(strstr(err.msg, "wave 8 'ga-100%'"));
    assert_int_equal(rf_plan_check(NULL, &err), RF_E_USAGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_counts),
        cmocka_unit_test(test_load_deterministic),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_generate),
        cmocka_unit_test(test_generate_sensors_and_bounds),
        cmocka_unit_test(test_load_generate),
        cmocka_unit_test(test_plan_default),
        cmocka_unit_test(test_plan_errors),
        cmocka_unit_test(test_plan_check),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
