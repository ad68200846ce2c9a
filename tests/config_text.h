/* config_text.h: what the config tests share: a config written by
 * config_write_yaml into a string. */
#ifndef FIELDBRAIN_TESTS_CONFIG_TEXT_H
#define FIELDBRAIN_TESTS_CONFIG_TEXT_H

#include "config.h"

#include <stdio.h>
#include <stdlib.h>

/* c as YAML in a new string (free it); NULL when writing failed. */
static inline char *config_text(const config *c)
{
    char *out = NULL;
    size_t out_len = 0;
    FILE *f = open_memstream(&out, &out_len);
    if (!f)
        return NULL;
    int rc = config_write_yaml(c, f);
    fclose(f);
    if (rc) {
        free(out);
        return NULL;
    }
    return out;
}

#endif
