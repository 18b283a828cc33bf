/*
 * validate.c — the release upload check in a process of its own.
 *
 * The validator runs each sensor's checks in forked children (see
 * lib/validate/exec.c). fork() in ringfenced, with its HTTP threads and the
 * ticker, would copy whatever locks those threads held at that moment into
 * a child that can then wait on them forever: under AddressSanitizer, whose
 * allocator is not fork-safe, a validation during concurrent requests hung
 * until the child's wall-clock limit and a good release was rejected. So the
 * server never calls the validator itself. The upload handler writes the
 * inputs to a private temporary directory and runs
 *
 *     ringfenced validate-job DIR
 *
 * with posix_spawn (no code of ours runs between the clone and the exec);
 * the job is single-threaded, validates with the same library call as
 * `ringfence validate`, and writes DIR/result.json. DIR holds:
 *
 *   upload.rfc        the uploaded channel file
 *   manifests.json    {"types":[YAML...],"sensors":[YAML...]}, the workspace
 *   baseline.rfc      the channel's previous release (optional)
 *   corpus/           the uploaded corpus (may be empty)
 *   result.json       written by the job: {"passed":B,"first":S,"report":{...}}
 *   job.log           the job's stderr
 *
 * Exit codes of the job: 0 result.json written; 2 usage or I/O error (the
 * reason on stderr).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ringfence/validate.h"
#include "server.h"

extern char **environ;

/* How long a job may take in all before it is killed: far above what the
 * validator's own per-child limits allow for a channel at the size limits. */
#define JOB_WALL_SECONDS 900

/* ---- the job (a process of its own) ------------------------------------------------------ */

static int job_fail(const char *what, const rf_err *err)
{
    char b[RF_ERR_MSG_MAX + RF_ERR_FILE_MAX];
    if (err)
        rf_err_format(err, b, sizeof(b));
    fprintf(stderr, "ringfenced validate-job: %s%s%s\n", what, err ? ": " : "",
            err ? b : "");
    return 2;
}

/* The result: the verdict, the first error in words, and the report. */
static rf_rc write_result(const char *dir, const rf_report *rep, rf_err *err)
{
    char *report = NULL;
    rf_rc rc = rf_report_to_json(rep, &report);
    if (rc)
        return rf_err_set(err, rc, NULL, 0, 0, "the report cannot be written: %s",
                          rf_strerror(rc));
    json_error_t je;
    json_t *rj = json_loads(report, 0, &je);
    free(report);
    char first[600] = "rejected";
    for (uint32_t k = 0; k < rf_report_nfindings(rep); k++) {
        rf_finding f;
        if (rf_report_finding(rep, k, &f) == RF_OK && f.error) {
            snprintf(first, sizeof(first), "[%s] %s", rf_stage_name(f.stage), f.message);
            break;
        }
    }
    json_t *o = rj ? json_pack("{s:b,s:s,s:o}", "passed", rf_report_passed(rep), "first",
                               first, "report", rj)
                   : NULL;
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!text)
        return rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "out of memory");
    /* Scratch, read only after this process exits 0: no fsync, no rename. */
    char path[600];
    snprintf(path, sizeof(path), "%s/result.json", dir);
    FILE *f = fopen(path, "wxe");
    size_t len = strlen(text);
    int ok = f && fwrite(text, 1, len, f) == len;
    if (f && fclose(f) != 0)
        ok = 0;
    free(text);
    if (!ok)
        return rf_err_set(err, RF_E_IO, path, 0, 0, "cannot write: %s", strerror(errno));
    return RF_OK;
}

int rfd_validate_job_main(int argc, char **argv)
{
    if (argc != 2 || strlen(argv[1]) > 400) {
        fprintf(stderr, "usage: ringfenced validate-job DIR\n"
                        "(run by `ringfenced serve` for each release upload; see "
                        "ringfenced(8))\n");
        return 2;
    }
    const char *dir = argv[1];
    char path[600];
    rf_err err;
    rf_err_clear(&err);
    uint8_t *manifests = NULL, *cf = NULL;
    size_t ml = 0, cl = 0;
    rf_workspace *ws = NULL;
    rf_report *rep = NULL;
    int ret = 2;
    snprintf(path, sizeof(path), "%s/manifests.json", dir);
    if (rf_file_read(path, 1u << 30, &manifests, &ml, &err) != RF_OK) {
        ret = job_fail("the manifests cannot be read", &err);
        goto out;
    }
    if (rfd_release_workspace((const char *)manifests, &ws, &err) != RF_OK) {
        ret = job_fail("the manifests do not load", &err);
        goto out;
    }
    snprintf(path, sizeof(path), "%s/upload.rfc", dir);
    if (rf_file_read(path, 1u << 30, &cf, &cl, &err) != RF_OK) {
        ret = job_fail("the channel file cannot be read", &err);
        goto out;
    }
    char cdir[600], bpath[600];
    struct stat st;
    snprintf(cdir, sizeof(cdir), "%s/corpus", dir);
    snprintf(bpath, sizeof(bpath), "%s/baseline.rfc", dir);
    rf_validate_opts vo;
    rf_validate_opts_init(&vo);
    vo.corpus_dir = cdir;
    vo.baseline_path = stat(bpath, &st) == 0 ? bpath : NULL;
    if (rf_validate_bytes(ws, cf, cl, "upload.rfc", &vo, &rep, &err) != RF_OK) {
        ret = job_fail("the validator could not run", &err);
        goto out;
    }
    if (write_result(dir, rep, &err) != RF_OK) {
        ret = job_fail("the result cannot be written", &err);
        goto out;
    }
    ret = 0;
out:
    rf_report_free(rep);
    rf_workspace_free(ws);
    free(cf);
    free((void *)manifests);
    return ret;
}

/* ---- the server's side --------------------------------------------------------------------- */

/* The job's stderr, for the error message (its last line) and for the
 * server's log (every line: a sanitizer report of the job must not be lost
 * with its directory). */
static void job_log(rfd_server *s, const char *dir, char *last, size_t n)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/job.log", dir);
    uint8_t *log = NULL;
    size_t len = 0;
    rf_err e;
    snprintf(last, n, "no message");
    if (rf_file_read(path, 1u << 20, &log, &len, &e) != RF_OK)
        return;
    char *p = (char *)log;
    while (*p) {
        char *nl = strchr(p, '\n');
        size_t ln = nl ? (size_t)(nl - p) : strlen(p);
        if (ln) {
            rfd_warn(s, "validate-job: %.*s", (int)ln, p);
            snprintf(last, n, "%.*s", (int)ln, p);
        }
        p += ln + (nl ? 1 : 0);
    }
    free(log);
}

static rf_rc spawn_job(const char *dir, pid_t *pid, rf_err *err)
{
    char logpath[600];
    snprintf(logpath, sizeof(logpath), "%s/job.log", dir);
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    if (posix_spawn_file_actions_init(&fa) != 0)
        return rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "out of memory");
    if (posix_spawnattr_init(&at) != 0) {
        posix_spawn_file_actions_destroy(&fa);
        return rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "out of memory");
    }
    /* The job starts clean: no descriptor of the server's beyond its own
     * three, no blocked signal, every signal at its default. */
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    int e = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (!e)
        e = posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    if (!e)
        e = posix_spawn_file_actions_addopen(&fa, 2, logpath, O_WRONLY | O_CREAT | O_TRUNC,
                                             0600);
    if (!e)
        e = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    if (!e)
        e = posix_spawnattr_setsigmask(&at, &none);
    if (!e)
        e = posix_spawnattr_setsigdefault(&at, &all);
    if (!e)
        e = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    char *argv[] = {"ringfenced", "validate-job", (char *)dir, NULL};
    /* /proc/self/exe: this very binary, even if the file was replaced on
     * disk since the server started (an upgrade in place). */
    if (!e)
        e = posix_spawn(pid, "/proc/self/exe", &fa, &at, argv, environ);
    posix_spawnattr_destroy(&at);
    posix_spawn_file_actions_destroy(&fa);
    if (e)
        return rf_err_set(err, RF_E_IO, NULL, 0, 0, "cannot start the validation job: %s",
                          strerror(e));
    return RF_OK;
}

/* Wait for the job, killing it past the deadline. 0 and its status, or -1. */
static int wait_job(pid_t pid, int *status)
{
    int64_t deadline = (int64_t)time(NULL) + JOB_WALL_SECONDS;
    struct timespec nap = {0, 5 * 1000 * 1000};
    for (;;) {
        pid_t w = waitpid(pid, status, WNOHANG);
        if (w == pid)
            return 0;
        if (w < 0 && errno != EINTR)
            return -1;
        if ((int64_t)time(NULL) > deadline) {
            kill(pid, SIGKILL);
            while (waitpid(pid, status, 0) < 0 && errno == EINTR)
                ;
            return 1;
        }
        nanosleep(&nap, NULL);
        if (nap.tv_nsec < 50 * 1000 * 1000)
            nap.tv_nsec += 5 * 1000 * 1000;
    }
}

rf_rc rfd_validate_release(rfd_server *s, const char *dir, int *passed, json_t **report,
                           char *first, size_t fn, rf_err *err)
{
    *passed = 0;
    *report = NULL;
    pid_t pid;
    rf_rc rc = spawn_job(dir, &pid, err);
    if (rc)
        return rc;
    int status = 0;
    int w = wait_job(pid, &status);
    int wait_errno = errno;
    char why[400];
    job_log(s, dir, why, sizeof(why));
    if (w < 0)
        return rf_err_set(err, RF_E_IO, NULL, 0, 0, "waiting for the validation job: %s",
                          strerror(wait_errno));
    if (w > 0)
        return rf_err_set(err, RF_E_IO, NULL, 0, 0,
                          "the validation job ran for over %d s and was killed",
                          JOB_WALL_SECONDS);
    if (WIFSIGNALED(status)) {
        return rf_err_set(err, RF_E_IO, NULL, 0, 0, "the validation job died of signal %d (%s)",
                          WTERMSIG(status), why);
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        return rf_err_set(err, RF_E_IO, NULL, 0, 0, "the validation job failed (exit %d): %s",
                          WIFEXITED(status) ? WEXITSTATUS(status) : -1, why);
    }
    char path[600];
    snprintf(path, sizeof(path), "%s/result.json", dir);
    json_error_t je;
    json_t *o = json_load_file(path, 0, &je);
    json_t *rep = o ? json_object_get(o, "report") : NULL;
    json_t *ok = o ? json_object_get(o, "passed") : NULL;
    const char *f = o ? json_string_value(json_object_get(o, "first")) : NULL;
    if (!json_is_object(rep) || !json_is_boolean(ok) || !f) {
        json_decref(o);
        return rf_err_set(err, RF_E_PARSE, NULL, 0, 0,
                          "the validation job's result is unreadable");
    }
    *passed = json_is_true(ok);
    snprintf(first, fn, "%s", f);
    *report = json_incref(rep);
    json_decref(o);
    return RF_OK;
}

/* Remove a job directory: corpus/ and its files, the other files, then
 * the directory itself, whatever a job that died half-way left there. */
void rfd_validate_dir_remove(const char *dir)
{
    char sub[600];
    snprintf(sub, sizeof(sub), "%s/corpus", dir);
    const char *const dirs[] = {sub, dir};
    for (size_t k = 0; k < 2; k++) {
        DIR *d = opendir(dirs[k]);
        if (!d)
            continue;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            if (unlinkat(dirfd(d), e->d_name, 0) != 0 && errno == EISDIR)
                (void)unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR);
        }
        closedir(d);
        (void)rmdir(dirs[k]);
    }
}
