/*
 * replay_main.c — runs a fuzz harness over every file of a corpus folder
 * (recursively not needed: corpora are flat). Used by the normal build so that
 * `make test` replays each committed corpus, sanitizers included. Exits 0
 * when every input ran (a crash ends the process), 2 on a usage or I/O error,
 * and 1 when the folder held no input at all (a corpus must not vanish
 * silently).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "ringfence/util.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    DIR *d = opendir(argv[1]);
    if (!d) {
        fprintf(stderr, "%s: cannot open corpus folder %s\n", argv[0], argv[1]);
        return 2;
    }
    unsigned n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char path[4096];
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", argv[1], de->d_name) >= sizeof(path))
            continue;
        uint8_t *buf = NULL;
        size_t len = 0;
        rf_err err;
        if (rf_file_read(path, 64u << 20, &buf, &len, &err) != RF_OK)
            continue; /* sub-folders and the like */
        LLVMFuzzerTestOneInput(buf, len);
        free(buf);
        n++;
    }
    closedir(d);
    printf("%u inputs replayed from %s\n", n, argv[1]);
    return n ? 0 : 1;
}
