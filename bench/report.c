/*
 * report.c - the result registry and the one table the suite prints.
 *
 * A "figure" is one row: the values of its runs (median, min and max are
 * shown), and ratios against baseline figures measured in the same process.
 * When a figure and its baseline have the same number of runs (they are run
 * interleaved: W, B, W, B, ...), the ratio is the median of the per-run
 * ratios, so a burst of noise that slows one pair does not skew it; otherwise
 * it is the ratio of the medians. Targets from issue 5 are checked against
 * ratios or against a median. The same rows go to results.tsv for gnuplot.
 */
#include "bench.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>

#define MAX_FIGS 256
#define MAX_CMP 4

struct cmp {
    const figure_t *base; /* NULL: absolute target on the median */
    double target;        /* NAN: none */
};

struct figure {
    int section; /* a section title, not a figure */
    char id[16];
    char name[160];
    char unit[12];
    int higher_better;
    double v[BENCH_MAX_RUNS];
    int n;
    int failed;
    char err[128];
    struct cmp cmp[MAX_CMP];
    int ncmp;
    char group[16];
    char series[48];
    char x[16];
};

static figure_t *figs[MAX_FIGS];
static int nfigs;

static figure_t *fig_alloc(void)
{
    figure_t *f;
    if (nfigs == MAX_FIGS) {
        fprintf(stderr, "bench: too many figures\n");
        exit(2);
    }
    f = calloc(1, sizeof *f);
    if (!f) {
        perror("calloc");
        exit(2);
    }
    figs[nfigs++] = f;
    return f;
}

void fig_section(const char *title)
{
    figure_t *f = fig_alloc();
    f->section = 1;
    snprintf(f->name, sizeof f->name, "%s", title);
}

figure_t *fig_new(const char *id, const char *name, const char *unit,
                  int higher_better)
{
    figure_t *f = fig_alloc();
    snprintf(f->id, sizeof f->id, "%s", id);
    snprintf(f->name, sizeof f->name, "%s", name);
    snprintf(f->unit, sizeof f->unit, "%s", unit);
    f->higher_better = higher_better;
    return f;
}

void fig_add(figure_t *f, double v)
{
    if (f->n < BENCH_MAX_RUNS)
        f->v[f->n++] = v;
}

void fig_fail(figure_t *f, const char *fmt, ...)
{
    va_list ap;
    if (f->failed)
        return; /* keep the first reason */
    f->failed = 1;
    va_start(ap, fmt);
    vsnprintf(f->err, sizeof f->err, fmt, ap);
    va_end(ap);
    progress(1, "%s (%s): FAILED: %s", f->id, f->name, f->err);
}

void fig_add_rc(figure_t *f, int rc, double v)
{
    if (rc == 0)
        fig_add(f, v);
    else
        fig_fail(f, "%s (%d)", rc_str(rc), rc);
}

int fig_runs(const figure_t *f) { return f->n; }

void fig_cmp(figure_t *f, const figure_t *base, double target)
{
    if (f->ncmp < MAX_CMP)
        f->cmp[f->ncmp++] = (struct cmp){base, target};
}

void fig_target(figure_t *f, double target) { fig_cmp(f, NULL, target); }

void fig_plot(figure_t *f, const char *group, const char *series,
              const char *x)
{
    snprintf(f->group, sizeof f->group, "%s", group);
    snprintf(f->series, sizeof f->series, "%s", series);
    snprintf(f->x, sizeof f->x, "%s", x);
}

/* ---- statistics ------------------------------------------------------------ */
static int dcmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median_of(const double *v, int n)
{
    double tmp[BENCH_MAX_RUNS];
    if (n <= 0)
        return NAN;
    memcpy(tmp, v, (size_t)n * sizeof *v);
    qsort(tmp, (size_t)n, sizeof *tmp, dcmp);
    return n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
}

static int usable(const figure_t *f) { return !f->failed && f->n > 0; }

static double fmedian(const figure_t *f)
{
    return usable(f) ? median_of(f->v, f->n) : NAN;
}

static double fmin_(const figure_t *f)
{
    double m = INFINITY;
    for (int i = 0; i < f->n; i++)
        m = f->v[i] < m ? f->v[i] : m;
    return usable(f) ? m : NAN;
}

static double fmax_(const figure_t *f)
{
    double m = -INFINITY;
    for (int i = 0; i < f->n; i++)
        m = f->v[i] > m ? f->v[i] : m;
    return usable(f) ? m : NAN;
}

static double ratio_of(const figure_t *f, const figure_t *b)
{
    double r[BENCH_MAX_RUNS];
    int n = 0;
    if (!usable(f) || !usable(b))
        return NAN;
    if (f->n == b->n) {
        for (int i = 0; i < f->n; i++)
            if (b->v[i] > 0)
                r[n++] = f->v[i] / b->v[i];
        if (n == f->n)
            return median_of(r, n);
    }
    return fmedian(b) > 0 ? fmedian(f) / fmedian(b) : NAN;
}

/* ---- output ------------------------------------------------------------------ */
static void fmtnum(char *buf, size_t size, double v)
{
    double a = fabs(v);
    if (isnan(v))
        snprintf(buf, size, "-");
    else if (a >= 10000)
        snprintf(buf, size, "%.0f", v);
    else if (a >= 100)
        snprintf(buf, size, "%.1f", v);
    else if (a >= 1)
        snprintf(buf, size, "%.2f", v);
    else if (a >= 0.01)
        snprintf(buf, size, "%.3f", v);
    else
        snprintf(buf, size, "%.2g", v);
}

static void fmtratio(char *buf, size_t size, double r)
{
    if (isnan(r))
        snprintf(buf, size, "-");
    else if (r >= 100)
        snprintf(buf, size, "%.0fx", r);
    else if (r >= 10)
        snprintf(buf, size, "%.1fx", r);
    else
        snprintf(buf, size, "%.2fx", r);
}

/* Evaluate comparison c of f: ratio (or median), and a verdict string. */
static double cmp_eval(const figure_t *f, const struct cmp *c,
                       const char **verdict)
{
    double v = c->base ? ratio_of(f, c->base) : fmedian(f);
    *verdict = "";
    if (!isnan(c->target)) {
        if (isnan(v))
            *verdict = "n/a";
        else if (f->higher_better ? v >= c->target : v <= c->target)
            *verdict = "ok";
        else
            *verdict = "MISS";
    }
    return v;
}

static void fmttarget(char *buf, size_t size, const figure_t *f,
                      const struct cmp *c)
{
    char num[24];
    if (isnan(c->target)) {
        snprintf(buf, size, "-");
        return;
    }
    snprintf(num, sizeof num, "%g", c->target);
    snprintf(buf, size, "%s%s%s", f->higher_better ? ">=" : "<=", num,
             c->base ? "x" : "");
}

#define ROWFMT "%-10s %-52s %-6s %9s %9s %9s | %7s %-10s %7s %s\n"

int report_table(FILE *out, const char *header)
{
    int failed = 0, misses = 0;
    fputs(header, out);
    fprintf(out, ROWFMT, "ID", "FIGURE", "UNIT", "MEDIAN", "MIN", "MAX",
            "RATIO", "VS", "TARGET", "");
    for (int i = 0; i < nfigs; i++) {
        figure_t *f = figs[i];
        char med[24], mn[24], mx[24], rat[24], tgt[40];
        if (f->section) {
            fprintf(out, "--- %s\n", f->name);
            continue;
        }
        if (f->failed || f->n == 0) {
            failed++;
            fprintf(out, "%-10s %-52s FAILED: %s\n", f->id, f->name,
                    f->failed ? f->err : "not run");
            continue;
        }
        fmtnum(med, sizeof med, fmedian(f));
        fmtnum(mn, sizeof mn, fmin_(f));
        fmtnum(mx, sizeof mx, fmax_(f));
        if (f->ncmp == 0) {
            fprintf(out, ROWFMT, f->id, f->name, f->unit, med, mn, mx, "", "",
                    "", "");
            continue;
        }
        for (int c = 0; c < f->ncmp; c++) {
            const char *verdict;
            double r = cmp_eval(f, &f->cmp[c], &verdict);
            if (f->cmp[c].base)
                fmtratio(rat, sizeof rat, r);
            else
                snprintf(rat, sizeof rat, "-");
            fmttarget(tgt, sizeof tgt, f, &f->cmp[c]);
            if (!strcmp(verdict, "MISS"))
                misses++;
            if (c == 0)
                fprintf(out, ROWFMT, f->id, f->name, f->unit, med, mn, mx,
                        rat, f->cmp[c].base ? f->cmp[c].base->id : "(abs)",
                        tgt, verdict);
            else
                fprintf(out, ROWFMT, "", "", "", "", "", "", rat,
                        f->cmp[c].base ? f->cmp[c].base->id : "(abs)", tgt,
                        verdict);
        }
    }
    fprintf(out, "%d figure(s) failed, %d target(s) missed\n", failed,
            misses);
    return failed;
}

int report_tsv(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -errno;
    fprintf(f, "#id\tname\tunit\truns\tmedian\tmin\tmax\tvs\tratio\ttarget"
               "\tverdict\tgroup\tseries\tx\n");
    for (int i = 0; i < nfigs; i++) {
        figure_t *g = figs[i];
        const char *verdict = "";
        double r = NAN, t = NAN;
        const char *vs = "-";
        if (g->section)
            continue;
        if (g->ncmp) {
            r = cmp_eval(g, &g->cmp[0], &verdict);
            t = g->cmp[0].target;
            vs = g->cmp[0].base ? g->cmp[0].base->id : "(abs)";
        }
        fprintf(f, "%s\t%s\t%s\t%d\t%g\t%g\t%g\t%s\t%g\t%g\t%s\t%s\t%s\t%s\n",
                g->id, g->name, g->unit, g->n, fmedian(g), fmin_(g), fmax_(g),
                vs, r, t, verdict[0] ? verdict : "-",
                g->group[0] ? g->group : "-", g->series[0] ? g->series : "-",
                g->x[0] ? g->x : "-");
    }
    return fclose(f) == 0 ? 0 : -errno;
}
