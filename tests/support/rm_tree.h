/*
 * rm_tree.h — remove a test's scratch directory tree at teardown. Depth
 * first and never through a symbolic link (FTW_PHYS), so a test that plants
 * a link in its directory cannot make teardown delete anything outside it.
 */
#ifndef RINGFENCE_TESTS_RM_TREE_H
#define RINGFENCE_TESTS_RM_TREE_H

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>

static int rm_tree_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

/* Remove dir and everything below it. 0 when it is gone (or was never
 * there), -1 when something could not be removed. */
static int rm_tree(const char *dir)
{
    if (nftw(dir, rm_tree_entry, 16, FTW_DEPTH | FTW_PHYS) == 0)
        return 0;
    return errno == ENOENT ? 0 : -1;
}

#endif
