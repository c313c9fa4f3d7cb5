/*  Replays a fuzz target's seed corpus and every crash it ever found
    (tests/fuzz/{corpus,regressions}/<target>/), so `scons check` keeps
    them fixed without libFuzzer. Prints the cmocka-style closing line. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <czmq.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static int
s_replay_folder (const char *folder)
{
    DIR *dir = opendir (folder);
    if (!dir)
        return 0;
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir (dir))) {
        if (entry->d_name [0] == '.')
            continue;
        char *path = zsys_sprintf ("%s/%s", folder, entry->d_name);
        zchunk_t *chunk = zchunk_slurp (path, 1 << 20);
        zstr_free (&path);
        if (!chunk)
            continue;
        LLVMFuzzerTestOneInput (zchunk_data (chunk), zchunk_size (chunk));
        zchunk_destroy (&chunk);
        count++;
    }
    closedir (dir);
    return count;
}

int
main (int argc, char *argv [])
{
    (void) argc;
    const char *source = getenv ("ORDERD_SOURCE");
    const char *name = strrchr (argv [0], '/');
    name = name? name + 1: argv [0];
    //  test_fuzz_<target>
    const char *target = strncmp (name, "test_fuzz_", 10) == 0? name + 10: name;
    int total = 0;
    const char *kinds [2] = { "corpus", "regressions" };
    for (int i = 0; i < 2; i++) {
        char *folder = zsys_sprintf ("%s/tests/fuzz/%s/%s", source? source: ".", kinds [i], target);
        total += s_replay_folder (folder);
        zstr_free (&folder);
    }
    printf ("[  PASSED  ] %d test(s).\n", total);
    return 0;
}
