/*  Fuzz target: the config loader on arbitrary file contents. */
#include <unistd.h>
#include "config.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char path [] = "/tmp/orderd-fuzz-config-XXXXXX";
    int fd = mkstemp (path);
    if (fd < 0)
        return 0;
    if (write (fd, data, size) == (ssize_t) size) {
        ord_config_t *config = NULL;
        ord_why_t why;
        if (ord_config_load (path, NULL, &config, &why) == 0)
            ord_config_destroy (&config);
    }
    close (fd);
    unlink (path);
    return 0;
}
